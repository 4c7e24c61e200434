package io.dynoffheap.demo.runner;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A JVM the demo started (Master, Worker, spark-submit): its output goes line by line to its
 * log file, the last lines are kept for error messages, and selected lines can be followed.
 *
 * <p>{@link #stop} ends the process and everything it started (a Worker's executors): a
 * polite SIGTERM first, so Spark's shutdown hooks run (a Worker kills its executors, an executor
 * closes its timeline file), then SIGKILL for whatever is still alive after the grace period.
 */
final class ChildProcess {
  private static final int TAIL_LINES = 30;
  /** Lines kept for {@link #await}: it is used for the first lines of a process only. */
  private static final int KEPT_LINES = 10_000;

  private final String name;
  private final Process process;
  private final Path log;
  private final Thread pump;
  private final Deque<String> tail = new ArrayDeque<>();
  private final List<String> lines = new ArrayList<>();

  private ChildProcess(String name, Process process, Path log, Consumer<String> follower)
      throws IOException {
    this.name = name;
    this.process = process;
    this.log = log;
    PrintWriter out = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8), true);
    this.pump = new Thread(() -> pump(out, follower), "output of " + name);
    pump.setDaemon(true);
    pump.start();
  }

  /**
   * Starts {@code command} with {@code env}, stdout and stderr into {@code log}; every line is
   * also given to {@code follower}.
   */
  static ChildProcess start(String name, List<String> command, Map<String, String> env,
      Path workDir, Path log, Consumer<String> follower) throws IOException {
    ProcessBuilder builder = new ProcessBuilder(command).directory(workDir.toFile())
        .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE);
    builder.environment().clear();
    builder.environment().putAll(env);
    Files.createDirectories(log.getParent());
    Files.writeString(log.resolveSibling(log.getFileName() + ".command"),
        String.join(" ", command) + "\n");
    Process process = builder.start();
    process.getOutputStream().close();
    return new ChildProcess(name, process, log, follower);
  }

  String name() {
    return name;
  }

  Path log() {
    return log;
  }

  long pid() {
    return process.pid();
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** The exit code once the process has ended. */
  Optional<Integer> exitCode() {
    return process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
  }

  /** Processes this one started that are still running (a Worker's executors). */
  List<ProcessHandle> runningDescendants() {
    return process.descendants().filter(ProcessHandle::isAlive).toList();
  }

  /**
   * Waits until a line matches {@code pattern} and returns the match; empty when the process
   * ended first or the time ran out.
   */
  Optional<Matcher> await(Pattern pattern, long timeoutMillis) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMillis;
    int seen = 0;
    while (true) {
      synchronized (lines) {
        for (; seen < lines.size(); seen++) {
          Matcher matcher = pattern.matcher(lines.get(seen));
          if (matcher.find()) {
            return Optional.of(matcher);
          }
        }
        long left = deadline - System.currentTimeMillis();
        if (left <= 0 || (!process.isAlive() && !pump.isAlive())) {
          return Optional.empty();
        }
        lines.wait(Math.min(left, 200));
      }
    }
  }

  /** Waits for the process to end; returns its exit code, or empty when the time ran out. */
  Optional<Integer> waitFor(long timeoutMillis) throws InterruptedException {
    if (!process.waitFor(timeoutMillis, TimeUnit.MILLISECONDS)) {
      return Optional.empty();
    }
    pump.join(5000);
    return Optional.of(process.exitValue());
  }

  /** The last lines of output, for error messages. */
  String tail() {
    synchronized (tail) {
      return String.join("\n", tail);
    }
  }

  /**
   * Stops the process and its descendants: SIGTERM to the process, up to {@code graceMillis}
   * for it to end, then SIGTERM to descendants still alive and finally SIGKILL to everything
   * left. Returns the processes that had to be killed.
   */
  List<ProcessHandle> stop(long graceMillis) throws InterruptedException {
    List<ProcessHandle> family = new ArrayList<>(process.descendants().toList());
    List<ProcessHandle> killed = new ArrayList<>();
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(graceMillis, TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        killed.add(process.toHandle());
        process.waitFor(graceMillis, TimeUnit.MILLISECONDS);
      }
    }
    for (ProcessHandle descendant : family) {
      if (descendant.isAlive()) {
        descendant.destroy();
      }
    }
    long deadline = System.currentTimeMillis() + graceMillis;
    for (ProcessHandle descendant : family) {
      while (descendant.isAlive() && System.currentTimeMillis() < deadline) {
        Thread.sleep(50);
      }
      if (descendant.isAlive()) {
        descendant.destroyForcibly();
        killed.add(descendant);
      }
    }
    pump.join(2000);
    return killed;
  }

  private void pump(PrintWriter out, Consumer<String> follower) {
    try (BufferedReader in = new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        out.println(line);
        synchronized (tail) {
          tail.addLast(line);
          if (tail.size() > TAIL_LINES) {
            tail.removeFirst();
          }
        }
        synchronized (lines) {
          if (lines.size() < KEPT_LINES) {
            lines.add(line);
          }
          lines.notifyAll();
        }
        follower.accept(line);
      }
    } catch (IOException e) {
      out.println("[demo runner] output of " + name + " could not be read: " + e);
    } finally {
      out.close();
      synchronized (lines) {
        lines.notifyAll();
      }
    }
  }

  @Override
  public String toString() {
    return name + " (pid " + process.pid() + ")";
  }
}

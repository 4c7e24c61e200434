package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A standalone cluster on this machine and the submissions to it, for the length of one demo or
 * one benchmark session, with the guarantee that nothing is left running.
 *
 * <p>Every JVM it starts (Master, Worker, spark-submit, and through the Worker the executors)
 * carries the marker {@code -Ddynoffheap.demo.run=<run id>}. {@link #close} stops the driver
 * that is running, the Worker with its executors and the Master, then looks for any process with
 * the marker and stops it. A shutdown hook does the same on Ctrl-C or SIGTERM; from then on
 * {@link #interrupted} is true and the caller starts nothing more.
 */
final class ClusterSession implements AutoCloseable {
  static final String MARKER_PROPERTY = "dynoffheap.demo.run";

  private final String runId;
  private final String what;
  private final PrintStream out;
  private final List<String> marker;
  private final Thread hook;
  private final Object stopLock = new Object();
  private StandaloneCluster cluster;
  private Submission submission;
  private boolean stopped;
  /** Set first thing on Ctrl-C or SIGTERM. */
  private volatile boolean interrupted;

  /**
   * @param what how messages name the session ("demo", "benchmark")
   */
  ClusterSession(String runId, String what, PrintStream out) {
    this.runId = runId;
    this.what = what;
    this.out = out;
    this.marker = List.of("-D" + MARKER_PROPERTY + "=" + runId);
    this.hook = new Thread(this::stopOnExit, what + "-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /**
   * Starts the cluster (a Master and a Worker offering {@code cores} and {@code memory}) with its
   * logs under {@code dir}, and prepares submissions of {@code appJar} with {@code pluginJar}.
   */
  void start(SparkHome sparkHome, Path dir, int cores, String memory, Path pluginJar, Path appJar,
      boolean timelines) throws IOException, InterruptedException {
    StandaloneCluster started = new StandaloneCluster(sparkHome, dir, marker);
    synchronized (stopLock) {
      if (stopped) {
        throw new IllegalStateException("the " + what + " was stopped");
      }
      cluster = started;
      submission = new Submission(cluster, sparkHome, pluginJar, appJar, timelines, marker, out);
    }
    cluster.start(cores, memory);
  }

  StandaloneCluster cluster() {
    return cluster;
  }

  Submission submission() {
    return submission;
  }

  boolean started() {
    synchronized (stopLock) {
      return cluster != null;
    }
  }

  boolean interrupted() {
    return interrupted;
  }

  /**
   * Stops the driver (if one is running), the Worker with its executors, and the Master; then
   * any process that still carries this session's marker. Runs once.
   */
  @Override
  public void close() throws InterruptedException {
    stopEverything();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // Ctrl-C or SIGTERM: the hook is running or has run, and found everything stopped.
    }
  }

  /** On Ctrl-C or SIGTERM: stop whatever is running, like the normal path does. */
  private void stopOnExit() {
    interrupted = true;
    synchronized (stopLock) {
      if (stopped) {
        return;
      }
    }
    out.println();
    out.println("Interrupted: stopping the " + what + "'s Spark processes ...");
    try {
      stopEverything();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void stopEverything() throws InterruptedException {
    synchronized (stopLock) {
      if (stopped) {
        return;
      }
      stopped = true;
      List<ProcessHandle> killed = new ArrayList<>();
      if (submission != null) {
        submission.cancel();
      }
      if (cluster != null) {
        killed.addAll(cluster.stop());
      }
      List<ProcessHandle> leftovers = leftovers(runId);
      for (ProcessHandle process : leftovers) {
        process.destroy();
      }
      for (ProcessHandle process : leftovers) {
        try {
          process.onExit().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
          process.destroyForcibly();
        }
      }
      if (!killed.isEmpty()) {
        out.println("      had to kill " + killed.size() + " process(es) that ignored SIGTERM");
      }
      List<ProcessHandle> still = leftovers(runId);
      out.println(still.isEmpty() && leftovers.isEmpty()
          ? "      stopped; no Spark process of this " + what + " is left running"
          : "      stopped " + leftovers.size() + " leftover process(es)" + (still.isEmpty() ? ""
              : "; STILL RUNNING: " + still.stream().map(p -> String.valueOf(p.pid())).toList()));
    }
  }

  /** Processes of this user whose command line carries the run's marker. */
  static List<ProcessHandle> leftovers(String runId) {
    String needle = "-D" + MARKER_PROPERTY + "=" + runId;
    long self = ProcessHandle.current().pid();
    return ProcessHandle.allProcesses()
        .filter(p -> p.pid() != self && p.isAlive())
        .filter(p -> p.info().commandLine().map(line -> line.contains(needle)).orElse(false)
            || p.info().arguments().map(args -> List.of(args).contains(needle)).orElse(false))
        .toList();
  }
}

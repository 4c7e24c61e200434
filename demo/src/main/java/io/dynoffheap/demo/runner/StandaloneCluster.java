package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Spark standalone cluster on this machine: one Master and one Worker, bound to 127.0.0.1.
 * Ports are chosen by the operating system (port 0) and read back from the Master's log, so two
 * demos, or a demo and a test build, never fight over a port. The web UIs get free ports too.
 */
final class StandaloneCluster {
  private static final Pattern MASTER_URL = Pattern.compile("Starting Spark master at (spark://\\S+)");
  private static final Pattern MASTER_ALIVE = Pattern.compile("I have been elected leader");
  private static final Pattern WORKER_REGISTERED =
      Pattern.compile("Successfully registered with master");
  private static final long START_TIMEOUT_MILLIS = 90_000;
  private static final long STOP_GRACE_MILLIS = 15_000;

  private final SparkHome sparkHome;
  private final Path dir;
  private final List<String> jvmOptions;
  private final Map<String, String> env;
  /** The daemons in the order they were started; stopped in reverse order. */
  private final List<ChildProcess> daemons = new ArrayList<>();
  private volatile ChildProcess worker;
  private String masterUrl;
  /** Set by {@link #stop}: no process is started after it (it may run while start() waits). */
  private boolean stopped;

  /**
   * @param dir        logs, the Worker's work dir (executor logs) and local dirs go here
   * @param jvmOptions extra options of the Master's and Worker's JVMs (the run marker)
   */
  StandaloneCluster(SparkHome sparkHome, Path dir, List<String> jvmOptions) throws IOException {
    this.sparkHome = sparkHome;
    this.dir = dir;
    this.jvmOptions = jvmOptions;
    Files.createDirectories(dir.resolve("local"));
    this.env = sparkHome.environment(dir.resolve("local"));
  }

  /** Starts the Master, then a Worker with {@code cores} and {@code memory} to offer. */
  void start(int cores, String memory) throws IOException, InterruptedException {
    ChildProcess master = launch("Spark Master", "org.apache.spark.deploy.master.Master",
        List.of("--host", "127.0.0.1", "--port", "0", "--webui-port", "0"), "master.log");
    Matcher url = master.await(MASTER_URL, START_TIMEOUT_MILLIS)
        .orElseThrow(() -> failure(master, "did not report its URL"));
    masterUrl = url.group(1);
    master.await(MASTER_ALIVE, START_TIMEOUT_MILLIS)
        .orElseThrow(() -> failure(master, "did not become ALIVE"));

    Path work = Files.createDirectories(dir.resolve("work"));
    ChildProcess worker = launch("Spark Worker", "org.apache.spark.deploy.worker.Worker",
        List.of("--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
            "--cores", String.valueOf(cores), "--memory", memory,
            "--work-dir", work.toString(), masterUrl), "worker.log");
    this.worker = worker;
    worker.await(WORKER_REGISTERED, START_TIMEOUT_MILLIS)
        .orElseThrow(() -> failure(worker, "did not register with the Master"));
  }

  /** Starts one daemon, unless the cluster was stopped meanwhile. */
  private synchronized ChildProcess launch(String name, String mainClass, List<String> args,
      String log) throws IOException {
    if (stopped) {
      throw new IllegalStateException("the cluster was stopped while it was starting");
    }
    ChildProcess process = ChildProcess.start(name, sparkHome.javaCommand("512m", jvmOptions,
        mainClass, args), env, dir, dir.resolve(log), line -> { });
    daemons.add(process);
    return process;
  }

  String masterUrl() {
    return masterUrl;
  }

  Map<String, String> environment() {
    return env;
  }

  Path dir() {
    return dir;
  }

  /** Executors (JVMs started by the Worker) that are still running. */
  List<ProcessHandle> runningExecutors() {
    ChildProcess worker = this.worker;
    return worker == null ? List.of() : worker.runningDescendants();
  }

  /** The Worker's work dir: one folder per application with each executor's stdout and stderr. */
  Path workDir() {
    return dir.resolve("work");
  }

  /**
   * Stops the Worker (and with it its executors), then the Master. Returns the processes that
   * did not end on SIGTERM and had to be killed.
   */
  List<ProcessHandle> stop() throws InterruptedException {
    List<ChildProcess> started;
    synchronized (this) {
      stopped = true;
      started = new ArrayList<>(daemons);
    }
    List<ProcessHandle> killed = new ArrayList<>();
    for (int i = started.size() - 1; i >= 0; i--) {
      killed.addAll(started.get(i).stop(STOP_GRACE_MILLIS));
    }
    return killed;
  }

  private IllegalStateException failure(ChildProcess process, String what) {
    return new IllegalStateException(process.name() + " " + what + " within "
        + Sizes.seconds(START_TIMEOUT_MILLIS) + " (" + process.exitCode()
            .map(code -> "it exited with code " + code).orElse("it is still running")
        + "). Last lines of " + process.log() + ":\n" + process.tail());
  }
}

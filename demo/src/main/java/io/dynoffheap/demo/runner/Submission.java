package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;

/**
 * One run of the demo job: spark-submit's own entry point ({@code org.apache.spark.deploy.SparkSubmit})
 * in client mode against the demo cluster, with the plugin passed exactly as users pass it
 * ({@code --jars} and, when the run uses it, {@code spark.plugins}). The driver's "[demo]"
 * progress lines are shown as they come; all its output is kept in {@code driver.log}. Used by
 * the demo and by the job benchmarks.
 */
final class Submission {
  static final String JOB_CLASS = "io.dynoffheap.demo.job.DemoJob";
  private static final String PROGRESS_PREFIX = "[demo] ";

  private final StandaloneCluster cluster;
  private final SparkHome sparkHome;
  private final Path pluginJar;
  private final Path appJar;
  private final boolean timelines;
  private final List<String> markerOptions;
  private final PrintStream console;
  private ChildProcess driver;
  /** Set by {@link #cancel}: no driver is started after it. */
  private boolean cancelled;

  /**
   * @param timelines whether executors write the plugin's memory timeline (the demo's charts;
   *                  off for the benchmarks, which measure the plugin as users run it)
   */
  Submission(StandaloneCluster cluster, SparkHome sparkHome, Path pluginJar, Path appJar,
      boolean timelines, List<String> markerOptions, PrintStream console) {
    this.cluster = cluster;
    this.sparkHome = sparkHome;
    this.pluginJar = pluginJar;
    this.appJar = appJar;
    this.timelines = timelines;
    this.markerOptions = markerOptions;
    this.console = console;
  }

  /** The settings every run shares; the run's own settings follow and may override them. */
  Map<String, String> commonConf(JobSize size, Path timelineDir) {
    Map<String, String> conf = new LinkedHashMap<>();
    if (timelines) {
      conf.put("spark.dynoffheap.timeline.dir", timelineDir.toString());
    }
    conf.put("spark.executor.cores", "2");
    conf.put("spark.cores.max", "2");
    conf.put("spark.sql.shuffle.partitions", String.valueOf(size.partitions()));
    conf.put("spark.ui.enabled", "false");
    conf.put("spark.ui.showConsoleProgress", "false");
    conf.put("spark.driver.host", "127.0.0.1");
    conf.put("spark.driver.bindAddress", "127.0.0.1");
    // The run marker reaches the executors' command lines too: no process of the demo can
    // be left behind unnoticed.
    conf.put("spark.executor.extraJavaOptions", String.join(" ", markerOptions));
    return conf;
  }

  /** spark-submit's arguments for {@code spec} on {@code size}, writing its results under {@code dir}. */
  List<String> submitArguments(RunSpec spec, JobSize size, Path dir) {
    Map<String, String> conf = commonConf(size, dir.resolve("timeline"));
    conf.putAll(spec.conf());
    List<String> args = new ArrayList<>(List.of(
        "--master", cluster.masterUrl(),
        "--deploy-mode", "client",
        "--name", "dynoffheap-demo-" + spec.label(),
        "--class", JOB_CLASS,
        "--jars", pluginJar.toString(),
        "--executor-memory", spec.executorMemory()));
    conf.forEach((key, value) -> {
      args.add("--conf");
      args.add(key + "=" + value);
    });
    args.add(appJar.toString());
    args.addAll(List.of("--label", spec.label(), "--result", dir.resolve("result.properties")
        .toString(), "--spill-dir", dir.resolve("spill").toString()));
    args.addAll(size.jobArguments());
    args.addAll(spec.jobArguments());
    return args;
  }

  /** The whole command: spark-submit's entry point run with plain java from the Spark home. */
  List<String> command(RunSpec spec, JobSize size, Path dir) {
    return sparkHome.javaCommand("1g", markerOptions, "org.apache.spark.deploy.SparkSubmit",
        submitArguments(spec, size, dir));
  }

  /** Runs {@code spec} on {@code size}; gives up after {@code timeoutMillis} and stops the driver. */
  RunResult run(RunSpec spec, JobSize size, Path dir, long timeoutMillis)
      throws IOException, InterruptedException {
    Files.createDirectories(dir.resolve("timeline"));
    Files.createDirectories(dir.resolve("spill"));
    Files.deleteIfExists(dir.resolve("result.properties"));
    long start = System.nanoTime();
    ChildProcess driver;
    synchronized (this) {
      if (cancelled) {
        throw new IllegalStateException("the demo was stopped");
      }
      driver = ChildProcess.start("spark-submit (" + spec.label() + ")", command(spec, size, dir),
          cluster.environment(), dir, dir.resolve("driver.log"), this::follow);
      this.driver = driver;
    }
    Optional<Integer> exit = driver.waitFor(timeoutMillis);
    boolean timedOut = exit.isEmpty();
    if (timedOut) {
      console.println("    time limit of " + Sizes.seconds(timeoutMillis) + " reached: stopping "
          + "the driver");
      driver.stop(10_000);
    }
    long wall = (System.nanoTime() - start) / 1_000_000;
    // The executor closes its timeline when it stops, shortly after the driver: wait for it.
    awaitExecutorsGone(15_000);
    synchronized (this) {
      this.driver = null;
    }
    return new RunResult(spec, exit.orElse(-1), timedOut, wall, readResult(dir),
        Timeline.readAll(dir.resolve("timeline")), driver.log(), dir);
  }

  /** Stops the driver that is running, if any, and starts no other (Ctrl-C, failure elsewhere). */
  void cancel() throws InterruptedException {
    ChildProcess running;
    synchronized (this) {
      cancelled = true;
      running = driver;
    }
    if (running != null) {
      running.stop(10_000);
    }
  }

  private void follow(String line) {
    if (line.startsWith(PROGRESS_PREFIX)) {
      console.println("    " + line.substring(PROGRESS_PREFIX.length()));
    }
  }

  /** Waits until no executor of the cluster's Worker is running any more. */
  private void awaitExecutorsGone(long timeoutMillis) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMillis;
    while (System.currentTimeMillis() < deadline && !cluster.runningExecutors().isEmpty()) {
      Thread.sleep(100);
    }
  }

  private static Properties readResult(Path dir) throws IOException {
    Properties result = new Properties();
    Path file = dir.resolve("result.properties");
    if (Files.isRegularFile(file)) {
      try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        result.load(in);
      }
    }
    return result;
  }
}

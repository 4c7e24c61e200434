package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The job benchmarks of docs/benchmarks.md, 4 (job overhead), 5 (what the plugin buys), 6 (speed
 * against the static split) and 7 (spills), on a standalone cluster of this machine (a Master and
 * one Worker with 2 cores; each run's executor is a separate JVM whose heap is
 * spark.executor.memory). Started by benchmarks/run-all.sh.
 *
 * <p>Writes {@code job-overhead.md}, {@code job-capacity.md}, {@code job-speed.md} and
 * {@code job-spill.md} (the tables, each headed by the date, the load average before and after,
 * and the run time) and {@code trials.csv} (every run) into {@code --out}. Nothing is asserted:
 * these are measurements.
 */
public final class JobBenchmarks {

  /** The arguments. */
  record Options(Path sparkHome, Path pluginJar, Path appJar, Path out, String runId,
      String only, int overheadRuns, int speedRuns, int capacityTrials,
      List<Long> capacityMemories, long timeoutMillis) {
    static final List<String> BENCHMARKS = List.of("overhead", "capacity", "speed", "spill");

    boolean wants(String benchmark) {
      return only.equals("all") || only.equals(benchmark);
    }


    static Options parse(String[] args) {
      ClusterArgs.Reader common = new ClusterArgs.Reader("bench-" + ProcessHandle.current().pid());
      String only = "all";
      int overheadRuns = 5;
      int speedRuns = 5;
      int capacityTrials = 5;
      List<Long> memories = List.of(1L << 30, 2L << 30);
      long timeoutSeconds = 300;
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        String value = ClusterArgs.valueAfter(args, i);
        i++;
        switch (arg) {
          case "--only" -> only = value;
          case "--overhead-runs" -> overheadRuns = Integer.parseInt(value);
          case "--speed-runs" -> speedRuns = Integer.parseInt(value);
          case "--capacity-trials" -> capacityTrials = Integer.parseInt(value);
          case "--capacity-memories-mib" -> memories = Arrays.stream(value.split(","))
              .map(m -> Long.parseLong(m.trim()) << 20).toList();
          case "--timeout-seconds" -> timeoutSeconds = Long.parseLong(value);
          default -> common.read(arg, value);
        }
      }
      ClusterArgs cluster = common.build();
      if (!only.equals("all") && !BENCHMARKS.contains(only)) {
        throw new IllegalArgumentException("--only must be one of " + BENCHMARKS + ", was " + only);
      }
      return new Options(cluster.sparkHome(), cluster.pluginJar(), cluster.appJar(),
          cluster.out(), cluster.runId(), only, overheadRuns, speedRuns, capacityTrials, memories,
          timeoutSeconds * 1000);
    }
  }

  private JobBenchmarks() {}

  public static void main(String[] args) throws Exception {
    Options options;
    try {
      options = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("job benchmarks: " + e.getMessage());
      System.err.println("usage: JobBenchmarks " + ClusterArgs.USAGE
          + " [--only overhead|capacity|speed|spill] [--overhead-runs N] [--speed-runs N]"
          + " [--capacity-trials N] [--capacity-memories-mib 1024,2048] [--timeout-seconds N]");
      System.exit(2);
      return;
    }
    PrintStream console = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    System.exit(run(options, console));
  }

  static int run(Options options, PrintStream console) throws Exception {
    long start = System.nanoTime();
    Files.createDirectories(options.out());
    Files.deleteIfExists(options.out().resolve("trials.csv"));
    List<String> written = new ArrayList<>();
    ClusterSession session = new ClusterSession(options.runId(), "benchmark", console);
    try {
      SparkHome sparkHome = SparkHome.at(options.sparkHome());
      console.println("Job benchmarks on " + sparkHome);
      console.println("Starting a Spark standalone cluster (Master + Worker with 2 cores, 6 GiB) ...");
      session.start(sparkHome, options.out().resolve("cluster"), 2, "6g", options.pluginJar(),
          options.appJar(), false);
      TrialRunner runner = new TrialRunner(session, options.out(), options.timeoutMillis(),
          console);
      if (options.wants("overhead")) {
        PairedBenchmark overhead = PairedBenchmark.overhead(runner, options.overheadRuns());
        console.println("[4] Job overhead: " + options.overheadRuns() + " alternated pairs after "
            + "one warm-up pair; " + overhead.size().describe());
        written.add(write(options.out().resolve("job-overhead.md"), sparkHome, overhead::run));
      }
      if (options.wants("capacity") && !session.interrupted()) {
        console.println("[5] What it buys: largest native working set per configuration, up to "
            + options.capacityTrials() + " runs each");
        written.add(write(options.out().resolve("job-capacity.md"), sparkHome,
            () -> new CapacityBenchmark(runner, options.capacityMemories(),
                options.capacityTrials()).run()));
      }
      if (options.wants("speed") && !session.interrupted()) {
        PairedBenchmark speed = PairedBenchmark.againstStaticSplit(runner, options.speedRuns());
        console.println("[6] Speed against the static split: " + options.speedRuns()
            + " alternated pairs after one warm-up pair; " + speed.size().describe());
        written.add(write(options.out().resolve("job-speed.md"), sparkHome, speed::run));
      }
      if (options.wants("spill") && !session.interrupted()) {
        console.println("[7] Spills at 50, 70 and 90 % of the executor memory, toggle against the "
            + "static split of the same container");
        written.add(write(options.out().resolve("job-spill.md"), sparkHome,
            () -> new SpillBenchmark(runner, options.capacityMemories()).run()));
      }
    } finally {
      session.close();
    }
    if (session.interrupted()) {
      return 1;
    }
    for (String file : written) {
      console.println();
      console.println("==> " + file);
      console.print(Files.readString(Path.of(file), StandardCharsets.UTF_8));
    }
    console.println("Total time: " + Sizes.seconds((System.nanoTime() - start) / 1_000_000));
    return 0;
  }

  /** A benchmark that returns its table. */
  private interface Table {
    String produce() throws Exception;
  }

  /** Runs {@code table} and writes it to {@code file} under a line saying when and how. */
  private static String write(Path file, SparkHome sparkHome, Table table) throws Exception {
    String loadBefore = loadAverage();
    long start = System.nanoTime();
    String body = table.produce();
    String header = String.format("Run %s: Spark %s (Scala %s), %d cores, load average before %s,"
        + " after %s; %s.%n%n", LocalDate.now(), sparkHome.sparkVersion(),
        sparkHome.scalaVersion(), Runtime.getRuntime().availableProcessors(), loadBefore,
        loadAverage(), "took " + Sizes.seconds((System.nanoTime() - start) / 1_000_000));
    Files.writeString(file, header + body, StandardCharsets.UTF_8);
    return file.toString();
  }

  /** The 1, 5 and 15 minute load averages. */
  private static String loadAverage() throws IOException {
    String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
    return String.join(" ", fields[0], fields[1], fields[2]);
  }
}

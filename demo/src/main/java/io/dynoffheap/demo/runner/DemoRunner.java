package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Runs the demo: starts a Spark standalone cluster on this machine, submits the demo job twice
 * (dynamic sizing on; the static split users configure today), stops the cluster, prints the
 * comparison and writes the pictures. Started by run-demo.sh; see {@link Options} for the
 * arguments.
 *
 * <p>Nothing is left running: the cluster lives in a {@link ClusterSession}, which stops it on the
 * normal path, on failure, and on Ctrl-C or SIGTERM, and then stops any process left with the
 * session's marker.
 *
 * <p>Exit code: 0 when the run with dynamic sizing finished (the static split may fail: that is
 * one of the things the demo shows), 1 otherwise, 2 for wrong arguments.
 */
public final class DemoRunner {
  /** The off-heap pool of the demo's static split, beside its 1 GiB heap. */
  static final long STATIC_OFF_HEAP_BYTES = 300L << 20;

  /** The runner's arguments. */
  record Options(Path sparkHome, Path pluginJar, Path appJar, Path out, JobSize size,
      String runId, long timeoutMillis) {

    static Options parse(String[] args) {
      ClusterArgs.Reader common = new ClusterArgs.Reader("demo-" + ProcessHandle.current().pid());
      boolean quick = false;
      long timeoutSeconds = -1;
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        if (arg.equals("--quick")) {
          quick = true;
          continue;
        }
        String value = ClusterArgs.valueAfter(args, i);
        i++;
        if (arg.equals("--timeout-seconds")) {
          timeoutSeconds = Long.parseLong(value);
        } else {
          common.read(arg, value);
        }
      }
      ClusterArgs cluster = common.build();
      JobSize size = quick ? JobSize.QUICK : JobSize.FULL;
      long timeout = timeoutSeconds > 0 ? timeoutSeconds : quick ? 150 : 900;
      return new Options(cluster.sparkHome(), cluster.pluginJar(), cluster.appJar(),
          cluster.out(), size, cluster.runId(), timeout * 1000);
    }
  }

  private final Options options;
  private final PrintStream out;

  DemoRunner(Options options, PrintStream out) {
    this.options = options;
    this.out = out;
  }

  public static void main(String[] args) throws Exception {
    Options options;
    try {
      options = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("demo runner: " + e.getMessage());
      System.err.println("usage: DemoRunner " + ClusterArgs.USAGE
          + " [--quick] [--timeout-seconds N]");
      System.exit(2);
      return;
    }
    PrintStream console = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    System.exit(new DemoRunner(options, console).run());
  }

  int run() throws IOException, InterruptedException {
    List<RunResult> results = new ArrayList<>();
    long start = System.nanoTime();
    ClusterSession session = new ClusterSession(options.runId(), "demo", out);
    try {
      SparkHome sparkHome = SparkHome.at(options.sparkHome());
      requireFile(options.pluginJar(), "the plugin jar; build it with: mvn -B package -DskipTests");
      requireFile(options.appJar(), "the demo application jar; build it with: "
          + "mvn -B -f demo/pom.xml package -DskipTests");
      prepareOutput();
      out.println("Dynamic off-heap sizing demo (" + options.size().name() + " size)");
      out.println("  " + options.size().describe());
      out.println("  " + sparkHome + "; plugin jar " + options.pluginJar());
      out.println("  output: " + options.out());
      out.println();

      out.println("[1/4] Starting a Spark standalone cluster on 127.0.0.1 (Master + Worker with 2 "
          + "cores, 2 GiB) ...");
      long clusterStart = System.nanoTime();
      session.start(sparkHome, options.out().resolve("cluster"), 2, "2g", options.pluginJar(),
          options.appJar(), true);
      out.println("      cluster up in " + Sizes.seconds(millisSince(clusterStart)) + ": "
          + session.cluster().masterUrl());

      long memory = RunSpec.DEMO_EXECUTOR_MEMORY_BYTES;
      List<RunSpec> specs = List.of(RunSpec.dynamic(memory),
          RunSpec.staticSplit(memory, STATIC_OFF_HEAP_BYTES));
      for (int i = 0; i < specs.size() && !session.interrupted(); i++) {
        RunSpec spec = specs.get(i);
        out.println();
        out.println("[" + (i + 2) + "/4] Run " + (i + 1) + " of 2: " + spec.title() + " ("
            + String.join(" ", confFlags(spec)) + ") ...");
        RunResult result = session.submission().run(spec, options.size(),
            options.out().resolve(spec.label()), options.timeoutMillis());
        if (session.interrupted()) {
          break;
        }
        results.add(result);
        out.println("      " + (result.finished() ? "finished" : "DID NOT FINISH: "
            + result.failureReason()) + " after " + Sizes.seconds(result.wallMillis())
            + " (driver log: " + result.driverLog() + ")");
      }
    } catch (IOException | RuntimeException e) {
      if (!session.interrupted()) {
        out.println();
        out.println("The demo failed: " + e.getMessage());
      }
    } finally {
      if (!session.interrupted() && session.started()) {
        out.println();
        out.println("[4/4] Stopping the cluster ...");
      }
      session.close();
    }
    if (results.isEmpty() || session.interrupted()) {
      return 1;
    }
    report(results, session.submission());
    out.println("Total time: " + Sizes.seconds(millisSince(start)));
    return results.get(0).finished() ? 0 : 1;
  }

  private void report(List<RunResult> results, Submission submission) throws IOException {
    Comparison comparison = new Comparison(results);
    String table = comparison.render();
    out.println();
    out.println("Comparison (same job, same data, executor memory "
        + results.get(0).spec().executorMemory() + ", 2 cores):");
    out.println();
    out.print(table);
    out.println();
    for (String finding : comparison.findings()) {
      out.println("  * " + finding);
    }
    Files.writeString(options.out().resolve("comparison.txt"), table, StandardCharsets.UTF_8);

    ReportPages pages = new ReportPages(options.size(), TimelineChart.Scale.covering(results));
    out.println();
    out.println("Memory timeline pictures:");
    String pngProblem = null;
    for (RunResult result : results) {
      ReportPages.RunPictures pictures = pages.writeRun(result, "spark-submit "
          + String.join(" ", submission.submitArguments(result.spec(), options.size(), result.dir())));
      out.println("  " + result.spec().title() + ": " + pictures.html());
      for (Path png : pictures.pngs()) {
        out.println("  " + result.spec().title() + " (PNG): " + png);
      }
      pngProblem = pictures.pngProblem() != null ? pictures.pngProblem() : pngProblem;
    }
    Path report = pages.writeReport(results, comparison, options.out().resolve("demo-report.html"));
    out.println("  both runs and the table: " + report);
    if (pngProblem != null) {
      out.println("  (no PNG: this JDK cannot draw text headless here: " + pngProblem + ")");
    }
  }

  /** Removes what an earlier demo left in the output folder (only the demo's own entries). */
  private void prepareOutput() throws IOException {
    Files.createDirectories(options.out());
    for (String name : List.of("cluster", "dynamic", "static")) {
      deleteTree(options.out().resolve(name));
    }
    for (String name : List.of("demo-report.html", "comparison.txt")) {
      Files.deleteIfExists(options.out().resolve(name));
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(path);
      }
    }
  }

  private static List<String> confFlags(RunSpec spec) {
    List<String> flags = new ArrayList<>();
    spec.conf().forEach((key, value) -> flags.add(key + "=" + value));
    return flags;
  }

  private static void requireFile(Path file, String what) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalStateException("Missing " + file + ": " + what);
    }
  }

  private static long millisSince(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}

package io.dynoffheap.benchmarks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs {@link AccountingBenchmark} with 1 and 2 threads and prints each variant's throughput and
 * its ratio to Arrow's in the same group, measured in the same JMH run. Nothing is asserted.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.dynoffheap.benchmarks.AccountingReport
 * [--threads 1,2] [JMH options]}. Without JMH options it runs 1 fork, 3 warm-up and 5
 * measurement iterations of 1 s each; any JMH option given (e.g. {@code -f 3 -i 10},
 * {@code -p bytes=8388608}, or a benchmark regex) takes precedence.
 */
public final class AccountingReport {
  /** Spark and Arrow need these on Java 17 (Spark's launcher adds them to JVMs it starts). */
  static final String[] FORK_JVM_ARGS = {
      "-Xms2g", "-Xmx2g",
      "--add-opens=java.base/java.lang=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
      "--add-opens=java.base/java.io=ALL-UNNAMED",
      "--add-opens=java.base/java.net=ALL-UNNAMED",
      "--add-opens=java.base/java.nio=ALL-UNNAMED",
      "--add-opens=java.base/java.util=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
      "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
      "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
      "-Djdk.reflect.useDirectMethodHandle=false",
      "-Dio.netty.tryReflectionSetAccessible=true",
  };

  /** Printed just before the table, so scripts can cut JMH's progress output away. */
  static final String TABLE_MARKER = "=== Accounting benchmark: results ===";

  /** A row of the table: a benchmark method, its label, and the method it is compared with. */
  private record Row(String group, String method, String label, String baseline) {}

  private static final List<Row> ROWS = List.of(
      new Row("accounting only (no malloc)", "arrowReservation",
          "Arrow child+root reservation  [baseline]", null),
      new Row("accounting only (no malloc)", "quotaAdmitRelease",
          "ours (a) quota only", "arrowReservation"),
      new Row("accounting only (no malloc)", "treeNoSpark",
          "ours (c) tree+quota, Spark taken out", "arrowReservation"),
      new Row("accounting only (no malloc)", "treeWithSpark",
          "ours (b) tree+quota+Spark TMM", "arrowReservation"),
      new Row("accounting + malloc/free of the same bytes", "arrowBuffer",
          "Arrow buffer(n)+close  [baseline]", null),
      new Row("accounting + malloc/free of the same bytes", "quotaMalloc",
          "ours (a) quota + malloc/free", "arrowBuffer"),
      new Row("accounting + malloc/free of the same bytes", "treeWithSparkMalloc",
          "ours (b) tree+quota+Spark + malloc/free", "arrowBuffer"),
      new Row("reference (no ratio)", "committedHeapRead",
          "Runtime.totalMemory() alone", null),
      new Row("reference (no ratio)", "mallocFree",
          "malloc + free alone (Unsafe)", null));

  private AccountingReport() {}

  public static void main(String[] args) throws RunnerException, CommandLineOptionException {
    List<Integer> threadCounts = List.of(1, 2);
    List<String> jmhArgs = new ArrayList<>(Arrays.asList(args));
    int at = jmhArgs.indexOf("--threads");
    if (at >= 0) {
      threadCounts = Arrays.stream(jmhArgs.get(at + 1).split(",")).map(Integer::valueOf).toList();
      jmhArgs.subList(at, at + 2).clear();
    }
    CommandLineOptions cli = new CommandLineOptions(jmhArgs.toArray(new String[0]));

    // scores.get(method).get(threads) = result
    Map<String, Map<Integer, Result<?>>> scores = new LinkedHashMap<>();
    String settings = "";
    for (int threads : threadCounts) {
      OptionsBuilder options = new OptionsBuilder();
      options.parent(cli);
      if (cli.getIncludes().isEmpty()) {
        options.include(AccountingBenchmark.class.getName() + "\\.");
      }
      if (!cli.getForkCount().hasValue()) {
        options.forks(1);
      }
      if (!cli.getWarmupIterations().hasValue()) {
        options.warmupIterations(3);
      }
      if (!cli.getWarmupTime().hasValue()) {
        options.warmupTime(TimeValue.seconds(1));
      }
      if (!cli.getMeasurementIterations().hasValue()) {
        options.measurementIterations(5);
      }
      if (!cli.getMeasurementTime().hasValue()) {
        options.measurementTime(TimeValue.seconds(1));
      }
      if (!cli.getJvmArgsAppend().hasValue()) {
        options.jvmArgsAppend(FORK_JVM_ARGS);
      }
      options.threads(threads);
      org.openjdk.jmh.runner.options.Options built = options.build();
      settings = built.getForkCount().get() + " fork(s), " + built.getWarmupIterations().get()
          + " x " + built.getWarmupTime().get() + " warm-up, " + built.getMeasurementIterations().get()
          + " x " + built.getMeasurementTime().get() + " measurement";
      Collection<RunResult> results = new Runner(built).run();
      for (RunResult result : results) {
        String label = result.getParams().getBenchmark();
        String method = label.substring(label.lastIndexOf('.') + 1);
        String bytes = result.getParams().getParam("bytes");
        // Benchmarks without the bytes parameter (the references) belong in every size's table.
        String key = method + "@" + (bytes == null ? "" : bytes);
        scores.computeIfAbsent(key, k -> new LinkedHashMap<>()).put(threads,
            result.getPrimaryResult());
      }
    }
    System.out.println();
    System.out.println(TABLE_MARKER);
    System.out.print(table(scores, threadCounts, settings));
  }

  static String table(Map<String, Map<Integer, Result<?>>> scores, List<Integer> threadCounts,
      String settings) {
    List<String> sizes = scores.keySet().stream().map(k -> k.substring(k.indexOf('@') + 1))
        .filter(size -> !size.isEmpty()).distinct().toList();
    StringBuilder out = new StringBuilder();
    for (String size : sizes) {
      out.append(String.format(Locale.ROOT,
          "Accounting: one reserve + release of %s B per op; throughput in ops/us summed over "
              + "threads (higher is better); ratio = ours / Arrow.%nJMH %s, %d cores, %s%n",
          size, settings, Runtime.getRuntime().availableProcessors(),
          System.getProperty("java.vm.name") + " " + System.getProperty("java.version")));
      StringBuilder header = new StringBuilder(String.format(Locale.ROOT, "%-44s", ""));
      for (int threads : threadCounts) {
        header.append(String.format(Locale.ROOT, " | %-27s", threads + (threads == 1 ? " thread" : " threads")));
      }
      out.append(header).append('\n');
      out.append(String.format(Locale.ROOT, "%-44s", "")).append(
          String.format(Locale.ROOT, " | %8s %7s %10s", "ops/us", "±err", "ratio").repeat(threadCounts.size()))
          .append('\n');
      String group = "";
      for (Row row : ROWS) {
        Map<Integer, Result<?>> byThreads = scores.getOrDefault(row.method() + "@" + size,
            scores.get(row.method() + "@"));
        if (byThreads == null) {
          continue;
        }
        if (!row.group().equals(group)) {
          group = row.group();
          out.append(group).append('\n');
        }
        out.append(String.format(Locale.ROOT, "  %-42s", row.label()));
        for (int threads : threadCounts) {
          Result<?> result = byThreads.get(threads);
          if (result == null) {
            out.append(String.format(Locale.ROOT, " | %27s", "-"));
            continue;
          }
          String ratio = "";
          if (row.baseline() != null) {
            Map<Integer, Result<?>> base = scores.get(row.baseline() + "@" + size);
            if (base != null && base.get(threads) != null) {
              ratio = String.format(Locale.ROOT, "%.2fx", result.getScore() / base.get(threads).getScore());
            }
          }
          double error = result.getScoreError();
          out.append(String.format(Locale.ROOT, " | %8.2f %7s %10s", result.getScore(),
              Double.isNaN(error) ? "n/a" : String.format(Locale.ROOT, "%.2f", error), ratio));
        }
        out.append('\n');
      }
      out.append('\n');
    }
    return out.toString();
  }
}

package io.dynoffheap.demo.runner;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The side-by-side table of the runs: did each finish, how long it took, how much memory it
 * used and what it took to stay inside the limits (GC episodes, spills, denials, failures).
 * Figures come from the executors' timelines and from the application's result file; "n/a"
 * means the run did not produce that figure (it failed before).
 */
final class Comparison {
  private final List<RunResult> runs;

  Comparison(List<RunResult> runs) {
    this.runs = List.copyOf(runs);
  }

  /** The rows: a label, then one cell per run. */
  List<List<String>> rows() {
    List<List<String>> rows = new ArrayList<>();
    rows.add(row("", run -> run.spec().title()));
    rows.add(row("finished", run -> run.finished() ? "yes" : "NO: " + shorten(run.failureReason())));
    rows.add(row("wall time (spark-submit)", run -> Sizes.seconds(run.wallMillis())));
    rows.add(row("  of which the two stages", run -> Sizes.seconds(run.number("jobMillis"))));
    rows.add(row("memory granted per executor", run -> Sizes.format(run.spec().grantedPerExecutor())
        + (run.spec().isDynamic() ? " (heap)" : " (heap + off-heap)")));
    rows.add(row("peak tracked native bytes", run -> Sizes.format(run.maxOverExecutors(Timeline::peakNativeBytes))));
    rows.add(row("peak committed heap", run -> Sizes.format(run.maxOverExecutors(Timeline::peakCommittedHeap))));
    rows.add(row("peak Spark off-heap (own pages)", run -> Sizes.format(run.maxOverExecutors(Timeline::peakSparkOffHeap))));
    rows.add(row("peak heap + native + Spark off-heap", run -> Sizes.format(run.maxOverExecutors(Timeline::peakTotal))));
    rows.add(row("peak RSS (timeline)", run -> run.maxOverExecutors(Timeline::peakRss) < 0 ? "n/a"
        : Sizes.format(run.maxOverExecutors(Timeline::peakRss))));
    rows.add(row("GC episodes (plugin)", run -> timelineCount(run) ? run.sumOverExecutors(Timeline::gcEpisodes)
        + " (" + run.sumOverExecutors(Timeline::gcTimeMillis) + " ms)" : "n/a"));
    rows.add(row("native operator spills", run -> run.number("nativeSpills") < 0 ? "n/a"
        : run.number("nativeSpills") + " (" + count(run.number("nativeSpilledRecords")) + " records)"));
    rows.add(row("bytes freed by spills (plugin)", run -> timelineCount(run)
        ? Sizes.format(run.sumOverExecutors(Timeline::spilledBytes)) : "n/a"));
    rows.add(row("Spark operators spilled", run -> run.number("sparkMemorySpilled") < 0 ? "n/a"
        : Sizes.format(run.number("sparkMemorySpilled"))));
    rows.add(row("native reservations denied", run -> timelineCount(run)
        ? String.valueOf(run.sumOverExecutors(Timeline::denied)) : "n/a"));
    rows.add(row("OOMs (task failures)", run -> number(run.number("oomTasks"))));
    rows.add(row("failed tasks / lost executors", run -> number(run.number("failedTasks")) + " / "
        + number(run.number("executorsLost"))));
    return rows;
  }

  /** The table as fixed-width text. */
  String render() {
    List<List<String>> rows = rows();
    int columns = rows.get(0).size();
    int[] widths = new int[columns];
    for (List<String> row : rows) {
      for (int c = 0; c < columns; c++) {
        widths[c] = Math.max(widths[c], row.get(c).length());
      }
    }
    StringBuilder out = new StringBuilder();
    for (int r = 0; r < rows.size(); r++) {
      List<String> row = rows.get(r);
      StringBuilder line = new StringBuilder("  ");
      for (int c = 0; c < columns; c++) {
        line.append(String.format(Locale.ROOT, "%-" + (widths[c] + 3) + "s", row.get(c)));
      }
      out.append(line.toString().stripTrailing()).append('\n');
      if (r == 0) {
        out.append("  ").append("-".repeat(line.length() - 5)).append('\n');
      }
    }
    return out.toString();
  }

  /** A few sentences on what the figures show, derived from them (nothing is assumed). */
  List<String> findings() {
    List<String> findings = new ArrayList<>();
    RunResult dynamic = runs.stream().filter(r -> r.spec().isDynamic()).findFirst().orElse(null);
    RunResult fixed = runs.stream().filter(r -> !r.spec().isDynamic()).findFirst().orElse(null);
    if (dynamic == null || fixed == null) {
      return findings;
    }
    long dynamicNative = dynamic.maxOverExecutors(Timeline::peakNativeBytes);
    long dynamicTotal = dynamic.maxOverExecutors(Timeline::peakTotal);
    if (dynamic.finished() && dynamicTotal > 0) {
      findings.add("Dynamic sizing: heap + native peaked at " + Sizes.format(dynamicTotal)
          + " within the " + Sizes.format(dynamic.spec().executorMemoryBytes()) + " budget; native code"
          + " used up to " + Sizes.format(dynamicNative) + (fixed.spec().offHeapBytes() > 0
          ? " (the static pool allows " + Sizes.format(fixed.spec().offHeapBytes()) + ")" : "") + ".");
    }
    findings.add("The static split needs " + Sizes.format(fixed.spec().grantedPerExecutor())
        + " per executor from the cluster manager, dynamic sizing "
        + Sizes.format(dynamic.spec().grantedPerExecutor()) + ".");
    long staticSpills = fixed.number("nativeSpills");
    long dynamicSpills = dynamic.number("nativeSpills");
    if (staticSpills > 0 || dynamicSpills > 0) {
      findings.add("The native operator spilled to disk " + spills(dynamic) + " with dynamic "
          + "sizing and " + spills(fixed) + " with the static split.");
    }
    if (dynamic.finished() && fixed.finished() && fixed.wallMillis() > 0) {
      double ratio = (double) dynamic.wallMillis() / fixed.wallMillis();
      findings.add(String.format(Locale.ROOT, "Wall time: dynamic sizing took %.0f%% of the static "
          + "split's.", ratio * 100));
    }
    if (!fixed.finished()) {
      findings.add("The static split did not finish: " + fixed.failureReason());
    }
    if (!dynamic.finished()) {
      findings.add("Dynamic sizing did not finish: " + dynamic.failureReason());
    }
    return findings;
  }

  private static String spills(RunResult run) {
    long spills = Math.max(0, run.number("nativeSpills"));
    return spills == 0 ? "0 times" : spills + " time(s), " + count(run.number("nativeSpilledRecords"))
        + " records";
  }

  private List<String> row(String label, Function<RunResult, String> cell) {
    List<String> row = new ArrayList<>();
    row.add(label);
    for (RunResult run : runs) {
      row.add(cell.apply(run));
    }
    return row;
  }

  private static boolean timelineCount(RunResult run) {
    return run.timelines().stream().anyMatch(t -> !t.isEmpty());
  }

  private static String number(long value) {
    return value < 0 ? "n/a" : String.valueOf(value);
  }

  private static String count(long value) {
    return value < 0 ? "n/a" : String.format(Locale.ROOT, "%,d", value);
  }

  private static String shorten(String text) {
    return text.length() <= 60 ? text : text.substring(0, 57) + "...";
  }
}

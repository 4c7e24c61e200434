package io.dynoffheap.demo.runner;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Benchmark 5, what the plugin buys: for each executor memory and each configuration, the
 * largest native working set the job completes with, found by {@link CapacitySearch}.
 *
 * <p>Configurations: the plugin with the toggle on; the static split with
 * spark.memory.offHeap.size at 30 % of the executor memory beside it (toggle off: the container
 * grows by the pool), and the static split of the same container (heap 70 % + off-heap 30 % of
 * the executor memory); no plugin (plain malloc). One task at a time per executor ({@code spark.task.cpus=2} on the 2-core
 * executor), so the working set is the executor's; the native operator may not spill, so a
 * denied reservation fails the task, and {@code spark.task.maxFailures=1} fails the job at once.
 * The job keeps its JVM stage (1 M rows into 250 k groups), which grows the heap first, as real
 * jobs do.
 *
 * <p>"Completes" means: the job finished and the executor's peak RSS stayed inside the
 * container a cluster manager would grant ({@link RunSpec#containerBytes}); beyond it YARN or
 * Kubernetes would kill the executor (exit 137). Without the plugin nothing stops the job, so
 * for it only the RSS decides.
 *
 * <p>Search: from half the executor memory, doubling up to the container size, then bisection
 * to 5 % (16 MiB granules), at most {@code maxTrials} runs per row (the table says how many ran
 * and where the bracket ended).
 */
final class CapacityBenchmark {
  static final int RECORD_BYTES = 1024;
  static final long GRANULE = 16L << 20;

  private final TrialRunner runner;
  private final List<Long> executorMemories;
  private final int maxTrials;

  CapacityBenchmark(TrialRunner runner, List<Long> executorMemories, int maxTrials) {
    this.runner = runner;
    this.executorMemories = executorMemories;
    this.maxTrials = maxTrials;
  }

  /** The job at a native working set of {@code bytes} (one task). */
  static JobSize size(long bytes) {
    return new JobSize("capacity", 1, 1_000_000, 250_000, bytes / RECORD_BYTES, RECORD_BYTES,
        false);
  }

  static List<RunSpec> configurations(long executorMemory) {
    Map<String, String> oneTaskAtATime = Map.of("spark.task.cpus", "2",
        "spark.task.maxFailures", "1");
    return List.of(
        RunSpec.dynamic(executorMemory),
        RunSpec.staticSplit(executorMemory, executorMemory * 3 / 10),
        RunSpec.staticSplitWithin(executorMemory, executorMemory * 3 / 10),
        RunSpec.noPlugin(executorMemory)).stream().map(s -> s.withConf(oneTaskAtATime)).toList();
  }

  /** One row of the table: a configuration and what its search found. */
  record Row(long executorMemory, RunSpec spec, CapacitySearch.Outcome outcome, Trial largest,
      Trial failed) {}

  /** Runs every search and returns the table (Markdown). */
  String run() throws Exception {
    List<Row> rows = new ArrayList<>();
    for (long memory : executorMemories) {
      for (RunSpec spec : configurations(memory)) {
        Map<Long, Trial> trials = new HashMap<>();
        CapacitySearch search = new CapacitySearch(memory / 2, spec.containerBytes(), GRANULE,
            0.05, maxTrials);
        CapacitySearch.Outcome outcome = search.run(bytes -> {
          String name = String.format(Locale.ROOT, "capacity-%dm-%s-%dm", memory >> 20,
              spec.label() + (spec.offHeapBytes() > 0 ? (spec.offHeapBytes() >> 20) : ""),
              bytes >> 20);
          Trial trial = runner.run(name, spec, size(bytes));
          trials.put(bytes, trial);
          return trial.completes();
        });
        rows.add(new Row(memory, spec, outcome, trials.get(outcome.largestCompleted()),
            trials.get(outcome.smallestFailed())));
      }
    }
    return table(rows);
  }

  static String table(List<Row> rows) {
    StringBuilder out = new StringBuilder();
    out.append("| executor memory | configuration | container | largest working set that "
        + "completes | peak RSS there | RSS / container | next size up: what happened | runs |\n");
    out.append("|---|---|---:|---:|---:|---:|---|---:|\n");
    for (Row row : rows) {
      RunSpec spec = row.spec();
      Trial largest = row.largest();
      Trial failed = row.failed();
      out.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %d |%n",
          Sizes.format(row.executorMemory()), spec.title(),
          Sizes.mebibytes(spec.containerBytes()),
          largest == null ? "none" : Sizes.mebibytes(row.outcome().largestCompleted()),
          largest == null ? "" : Sizes.mebibytes(largest.peakRssBytes()),
          largest == null ? "" : String.format(Locale.ROOT, "%.2f",
              (double) largest.peakRssBytes() / spec.containerBytes()),
          failed == null ? "none failed up to the container size"
              : Sizes.mebibytes(failed.workingSetBytes()) + ": " + failed.shortOutcome(),
          row.outcome().trials()));
    }
    return out.toString();
  }
}

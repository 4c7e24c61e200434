package io.dynoffheap.demo.runner;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Benchmark 7, spills: with spilling allowed, what each configuration spills for a native working
 * set of 50 %, 70 % and 90 % of the executor memory, the toggle against the static split of the
 * same container (heap 70 % + off-heap 30 %). A spill the budget did not need is the cost the
 * static split's fixed pool charges, and the one the toggle must not charge while the budget has
 * room.
 *
 * <p>The job is the capacity job ({@link CapacityBenchmark#size}: a JVM stage of 1 M rows into
 * 250 k groups, then one native sort task of 1 KiB records feeding a JVM aggregation), one task at
 * a time, with the operator allowed to spill. Each row gives the operator's spills (runs written
 * and the records in them), what Spark's own operators spilled (task metrics), and the peak RSS
 * against the container.
 */
final class SpillBenchmark {
  static final double[] SHARES = {0.5, 0.7, 0.9};

  private final TrialRunner runner;
  private final List<Long> executorMemories;

  SpillBenchmark(TrialRunner runner, List<Long> executorMemories) {
    this.runner = runner;
    this.executorMemories = executorMemories;
  }

  static JobSize size(long bytes) {
    JobSize noSpill = CapacityBenchmark.size(bytes);
    return new JobSize("spill", noSpill.partitions(), noSpill.jvmRows(), noSpill.jvmGroups(),
        noSpill.nativeRecords(), noSpill.recordBytes(), true);
  }

  /** Runs every configuration at every share and returns the table (Markdown). */
  String run() throws Exception {
    List<String> rows = new ArrayList<>();
    Map<String, String> oneTaskAtATime = Map.of("spark.task.cpus", "2",
        "spark.task.maxFailures", "1");
    for (long memory : executorMemories) {
      for (double share : SHARES) {
        long bytes = Math.round(memory * share) / CapacityBenchmark.RECORD_BYTES
            * CapacityBenchmark.RECORD_BYTES;
        for (RunSpec spec : List.of(RunSpec.dynamic(memory),
            RunSpec.staticSplitWithin(memory, memory * 3 / 10))) {
          RunSpec run = spec.withConf(oneTaskAtATime);
          String name = String.format(Locale.ROOT, "spill-%dm-%s-%d", memory >> 20, spec.label(),
              Math.round(share * 100));
          rows.add(row(memory, share, runner.run(name, run, size(bytes))));
        }
      }
    }
    return "| executor memory | native working set | configuration | outcome | native spills "
        + "(records) | Spark spilled | job time | peak RSS / container |\n"
        + "|---|---:|---|---|---:|---:|---:|---:|\n" + String.join("", rows);
  }

  private static String row(long memory, double share, Trial trial) {
    RunResult result = trial.result();
    return String.format(Locale.ROOT, "| %s | %d %% (%s) | %s | %s | %s | %s | %s | %s |%n",
        Sizes.format(memory), Math.round(share * 100), Sizes.mebibytes(trial.workingSetBytes()),
        trial.spec().title(), trial.completes() ? "completed" : trial.shortOutcome(),
        count(result, "nativeSpills") + " (" + count(result, "nativeSpilledRecords") + ")",
        result.number("sparkMemorySpilled") < 0 ? "n/a"
            : Sizes.format(result.number("sparkMemorySpilled")),
        Sizes.seconds(trial.jobMillis()),
        trial.peakRssBytes() < 0 ? "n/a" : String.format(Locale.ROOT, "%s / %s",
            Sizes.mebibytes(trial.peakRssBytes()), Sizes.mebibytes(trial.spec().containerBytes())));
  }

  private static String count(RunResult result, String key) {
    long value = result.number(key);
    return value < 0 ? "n/a" : String.format(Locale.ROOT, "%,d", value);
  }
}

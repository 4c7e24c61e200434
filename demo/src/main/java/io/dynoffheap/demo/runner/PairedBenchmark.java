package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A job's time under two configurations, from pairs run back to back and alternated ABBA: the
 * configuration measured against its baseline.
 *
 * <ul>
 *   <li>Benchmark 4, job overhead ({@link #overhead}): the plugin with the toggle on against no
 *       plugin (the same native operator on plain malloc), executor memory 2 GiB, memory not
 *       tight.
 *   <li>Benchmark 6, speed against the static split ({@link #againstStaticSplit}): the demo job
 *       at 1 GiB with the toggle on against the demo's static split (the same heap plus a 300 MiB
 *       off-heap pool), memory tight, both complete.
 * </ul>
 *
 * <p>One warm-up pair is run and discarded (the first runs after the cluster starts pay for cold
 * page caches). Then {@code pairs} pairs, alternated ABBA (measured, baseline; baseline,
 * measured; ...), so a slow drift of the machine's load hits both sides alike. The figure is the
 * job's own time (jobMillis: from its first stage to its last, without JVM, SparkContext, cluster
 * and executor start); the ratio is median(measured) / median(baseline), and the median of the
 * per-pair ratios is given too. The stages' medians say where a difference sits.
 */
final class PairedBenchmark {
  /** JVM stage of 1 M rows into 250 k groups; native stage of 2 sorts x 153 MiB at once. */
  static final JobSize OVERHEAD_SIZE =
      new JobSize("overhead", 2, 1_000_000, 250_000, 2_500_000, 64, true);

  private final TrialRunner runner;
  private final String name;
  private final RunSpec measured;
  private final RunSpec baseline;
  private final JobSize size;
  private final int pairs;

  private PairedBenchmark(TrialRunner runner, String name, RunSpec measured, RunSpec baseline,
      JobSize size, int pairs) {
    this.runner = runner;
    this.name = name;
    this.measured = measured;
    this.baseline = baseline;
    this.size = size;
    this.pairs = pairs;
  }

  static PairedBenchmark overhead(TrialRunner runner, int pairs) {
    return new PairedBenchmark(runner, "overhead", RunSpec.dynamic(2L << 30),
        RunSpec.noPlugin(2L << 30), OVERHEAD_SIZE, pairs);
  }

  static PairedBenchmark againstStaticSplit(TrialRunner runner, int pairs) {
    long memory = RunSpec.DEMO_EXECUTOR_MEMORY_BYTES;
    return new PairedBenchmark(runner, "speed", RunSpec.dynamic(memory),
        RunSpec.staticSplit(memory, DemoRunner.STATIC_OFF_HEAP_BYTES), JobSize.FULL, pairs);
  }

  JobSize size() {
    return size;
  }

  /** Runs the pairs and returns the table (Markdown). */
  String run() throws IOException, InterruptedException {
    runner.run(name + "-warmup-" + measured.label(), measured, size);
    runner.run(name + "-warmup-" + baseline.label(), baseline, size);
    List<Trial> measuredTrials = new ArrayList<>();
    List<Trial> baselineTrials = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      boolean measuredFirst = i % 2 == 0;
      RunSpec first = measuredFirst ? measured : baseline;
      RunSpec second = measuredFirst ? baseline : measured;
      Trial a = runner.run(name + "-" + (i + 1) + "-" + first.label(), first, size);
      Trial b = runner.run(name + "-" + (i + 1) + "-" + second.label(), second, size);
      (measuredFirst ? measuredTrials : baselineTrials).add(a);
      (measuredFirst ? baselineTrials : measuredTrials).add(b);
    }
    return table(measuredTrials, baselineTrials);
  }

  /**
   * The ratio of each pair (run back to back, so under nearly the same load) and their median: a
   * second reading that a drift of the load over the whole session cannot bias.
   */
  static String pairRatios(List<Trial> measured, List<Trial> baseline) {
    List<String> ratios = new ArrayList<>();
    List<Long> permille = new ArrayList<>();
    for (int i = 0; i < Math.min(measured.size(), baseline.size()); i++) {
      Trial a = measured.get(i);
      Trial b = baseline.get(i);
      if (a.result().finished() && b.result().finished() && b.jobMillis() > 0) {
        long ratio = Math.round(1000.0 * a.jobMillis() / b.jobMillis());
        permille.add(ratio);
        ratios.add(String.format(Locale.ROOT, "%.2f", ratio / 1000.0));
      }
    }
    return String.format(Locale.ROOT, "Per pair (%s / %s, back to back): %s; median %.3fx.%n",
        measured.isEmpty() ? "measured" : measured.get(0).spec().title(),
        baseline.isEmpty() ? "baseline" : baseline.get(0).spec().title(),
        String.join(", ", ratios), median(permille) / 1000.0);
  }

  static String table(List<Trial> measured, List<Trial> baseline) {
    long measuredMedian = median(times(measured, "jobMillis"));
    long baselineMedian = median(times(baseline, "jobMillis"));
    StringBuilder out = new StringBuilder();
    out.append("| job | finished runs | median job time | min .. max | median JVM stage | median "
        + "native stage | median peak RSS | ratio |\n");
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    out.append(row(measured, String.format(Locale.ROOT, "%.3fx",
        (double) measuredMedian / baselineMedian)));
    out.append(row(baseline, "(baseline)"));
    out.append('\n').append(pairRatios(measured, baseline));
    return out.toString();
  }

  private static String row(List<Trial> trials, String ratio) {
    List<Long> times = times(trials, "jobMillis");
    List<Long> rss = trials.stream().map(Trial::peakRssBytes).toList();
    return String.format(Locale.ROOT, "| %s | %d of %d | %s | %s .. %s | %s | %s | %s | %s |%n",
        trials.isEmpty() ? "" : trials.get(0).spec().title(), times.size(), trials.size(),
        Sizes.seconds(median(times)),
        Sizes.seconds(times.stream().mapToLong(Long::longValue).min().orElse(-1)),
        Sizes.seconds(times.stream().mapToLong(Long::longValue).max().orElse(-1)),
        Sizes.seconds(median(times(trials, "jvmStageMillis"))),
        Sizes.seconds(median(times(trials, "nativeStageMillis"))),
        Sizes.format(median(rss)), ratio);
  }

  /** A time the job recorded, of the runs that finished. */
  private static List<Long> times(List<Trial> trials, String key) {
    return trials.stream().filter(t -> t.result().finished()).map(t -> t.result().number(key))
        .toList();
  }

  /** The middle value (the mean of the two middle ones for an even count); -1 when empty. */
  static long median(List<Long> values) {
    if (values.isEmpty()) {
      return -1;
    }
    List<Long> sorted = values.stream().sorted().toList();
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }
}

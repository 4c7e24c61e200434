package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Benchmark 4, job overhead: the demo job with the plugin (toggle on) against the same job with
 * no plugin (the same native operator on plain malloc), executor memory 2 GiB, memory not tight.
 *
 * <p>One warm-up pair is run and discarded (the first runs after the cluster starts pay for cold
 * page caches). Then {@code runs} pairs, alternated ABBA (plugin, none; none, plugin; ...), so a
 * slow drift of the machine's load hits both sides alike. The figure is the job's own time
 * (jobMillis: from its first stage to its last, without JVM, SparkContext, cluster and executor
 * start);
 * the ratio is median(plugin) / median(no plugin).
 */
final class OverheadBenchmark {
  static final long EXECUTOR_MEMORY = 2L << 30;
  /** JVM stage of 1 M rows into 250 k groups; native stage of 2 sorts x 153 MiB at once. */
  static final JobSize SIZE = new JobSize("overhead", 2, 1_000_000, 250_000, 2_500_000, 64, true);

  private final TrialRunner runner;
  private final int runs;

  OverheadBenchmark(TrialRunner runner, int runs) {
    this.runner = runner;
    this.runs = runs;
  }

  /** Runs the pairs and returns the table (Markdown). */
  String run() throws IOException, InterruptedException {
    RunSpec plugin = RunSpec.dynamic(EXECUTOR_MEMORY);
    RunSpec none = RunSpec.noPlugin(EXECUTOR_MEMORY);
    runner.run("overhead-warmup-plugin", plugin, SIZE);
    runner.run("overhead-warmup-none", none, SIZE);
    List<Trial> withPlugin = new ArrayList<>();
    List<Trial> without = new ArrayList<>();
    for (int i = 0; i < runs; i++) {
      boolean pluginFirst = i % 2 == 0;
      RunSpec first = pluginFirst ? plugin : none;
      RunSpec second = pluginFirst ? none : plugin;
      Trial a = runner.run("overhead-" + (i + 1) + "-" + first.label(), first, SIZE);
      Trial b = runner.run("overhead-" + (i + 1) + "-" + second.label(), second, SIZE);
      (pluginFirst ? withPlugin : without).add(a);
      (pluginFirst ? without : withPlugin).add(b);
    }
    return table(withPlugin, without);
  }

  /**
   * The ratio of each pair (run back to back, so under nearly the same load) and their median: a
   * second reading that a drift of the load over the whole session cannot bias.
   */
  static String pairRatios(List<Trial> withPlugin, List<Trial> without) {
    List<String> ratios = new ArrayList<>();
    List<Long> permille = new ArrayList<>();
    for (int i = 0; i < Math.min(withPlugin.size(), without.size()); i++) {
      Trial a = withPlugin.get(i);
      Trial b = without.get(i);
      if (a.result().finished() && b.result().finished() && b.jobMillis() > 0) {
        long ratio = Math.round(1000.0 * a.jobMillis() / b.jobMillis());
        permille.add(ratio);
        ratios.add(String.format(Locale.ROOT, "%.2f", ratio / 1000.0));
      }
    }
    return String.format(Locale.ROOT, "Per pair (plugin / no plugin, back to back): %s; median "
        + "%.3fx.%n", String.join(", ", ratios), median(permille) / 1000.0);
  }

  static String table(List<Trial> withPlugin, List<Trial> without) {
    long pluginMedian = median(jobTimes(withPlugin));
    long noneMedian = median(jobTimes(without));
    StringBuilder out = new StringBuilder();
    out.append("| job | finished runs | median job time | min .. max | median peak RSS | ratio |\n");
    out.append("|---|---:|---:|---:|---:|---:|\n");
    out.append(row("plugin, toggle on", withPlugin, String.format(Locale.ROOT, "%.3fx",
        (double) pluginMedian / noneMedian)));
    out.append(row("no plugin (plain malloc, baseline)", without, ""));
    out.append('\n').append(pairRatios(withPlugin, without));
    return out.toString();
  }

  private static String row(String name, List<Trial> trials, String ratio) {
    List<Long> times = jobTimes(trials);
    List<Long> rss = trials.stream().map(Trial::peakRssBytes).toList();
    return String.format(Locale.ROOT, "| %s | %d of %d | %s | %s .. %s | %s | %s |%n", name,
        times.size(), trials.size(), Sizes.seconds(median(times)),
        Sizes.seconds(times.stream().mapToLong(Long::longValue).min().orElse(-1)),
        Sizes.seconds(times.stream().mapToLong(Long::longValue).max().orElse(-1)),
        Sizes.format(median(rss)), ratio);
  }

  private static List<Long> jobTimes(List<Trial> trials) {
    return trials.stream().filter(t -> t.result().finished()).map(Trial::jobMillis).toList();
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

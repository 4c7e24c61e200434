package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Runs the job once per call on the session's cluster, with the executors' peak RSS watched, and
 * logs every trial: one line on the console and one CSV row in {@code trials.csv}, so every
 * figure of the tables can be traced back to its runs (their driver logs are under
 * {@code runs/<name>/}).
 */
final class TrialRunner {
  static final String CSV_HEADER = "name,label,executor_mib,working_set_mib,finished,job_ms,"
      + "peak_rss_mib,container_mib,outcome";

  private final ClusterSession session;
  private final Path dir;
  private final long timeoutMillis;
  private final PrintStream console;
  private final Path csv;

  TrialRunner(ClusterSession session, Path dir, long timeoutMillis, PrintStream console)
      throws IOException {
    this.session = session;
    this.dir = dir;
    this.timeoutMillis = timeoutMillis;
    this.console = console;
    this.csv = dir.resolve("trials.csv");
    if (!Files.exists(csv)) {
      Files.writeString(csv, CSV_HEADER + "\n", StandardCharsets.UTF_8);
    }
  }

  /** Runs {@code spec} on {@code size}; {@code name} names the run's folder and log lines. */
  Trial run(String name, RunSpec spec, JobSize size) throws IOException, InterruptedException {
    if (session.interrupted()) {
      throw new IllegalStateException("interrupted");
    }
    RunResult result;
    long rss;
    try (PeakRss peak = PeakRss.watch(session.cluster())) {
      result = session.submission().run(spec, size, dir.resolve("runs").resolve(name),
          timeoutMillis);
      rss = peak.peakBytes();
    }
    Trial trial = new Trial(spec, size, size.nativeBytesPerTask(), result, rss);
    console.printf(Locale.ROOT, "    %-34s %-26s executor %s, working set %s: job %s, peak RSS %s"
        + " (container %s): %s%n", name, spec.title(), spec.executorMemory(),
        Sizes.format(trial.workingSetBytes()), Sizes.seconds(trial.jobMillis()),
        Sizes.format(rss), Sizes.format(spec.containerBytes()), trial.outcome());
    Files.writeString(csv, String.join(",", name, spec.label(),
        String.valueOf(spec.executorMemoryBytes() >> 20),
        String.valueOf(trial.workingSetBytes() >> 20), String.valueOf(result.finished()),
        String.valueOf(trial.jobMillis()), String.valueOf(rss < 0 ? -1 : rss >> 20),
        String.valueOf(spec.containerBytes() >> 20),
        '"' + trial.outcome().replace('"', '\'') + '"') + "\n",
        StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    return trial;
  }
}

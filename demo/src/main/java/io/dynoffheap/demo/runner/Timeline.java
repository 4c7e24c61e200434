package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;

/**
 * One executor's memory timeline, as the plugin's sampler writes it (spark.dynoffheap.timeline.dir,
 * one CSV per executor): {@value #HEADER}. gc_episodes to reservations_denied are running totals
 * since the executor started; a rise between two samples marks an event (a GC episode, a spill, a
 * denial). The Spark off-heap columns are Spark's own off-heap memory (the static split's Tungsten
 * pages), the last the process's resident set (-1: unknown).
 */
record Timeline(Path file, List<Timeline.Sample> samples) {
  static final String HEADER = "epoch_ms,budget,committed_heap,native_bytes,gc_episodes,gc_time_ms,"
      + "spilled_bytes,reservations_denied,spark_offheap_execution,spark_offheap_storage,rss_bytes";
  private static final int COLUMNS = 11;

  /** One line of the CSV. */
  record Sample(long epochMillis, long budget, long committedHeap, long nativeBytes,
      long gcEpisodes, long gcTimeMillis, long spilledBytes, long denied,
      long sparkOffHeapExecution, long sparkOffHeapStorage, long rssBytes) {

    /** Spark's own off-heap memory: execution pages and cached blocks. */
    long sparkOffHeap() {
      return sparkOffHeapExecution + sparkOffHeapStorage;
    }

    /**
     * Everything the executor's memory manager knows it holds: committed heap, the plugin's
     * native bytes and Spark's own off-heap memory.
     */
    long total() {
      return committedHeap + nativeBytes + sparkOffHeap();
    }
  }

  /**
   * Reads a timeline; a last line cut short (the executor was killed while writing) is skipped.
   *
   * @throws IOException when the file is not a timeline (its first line is not {@link #HEADER})
   */
  static Timeline read(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    if (lines.isEmpty() || !lines.get(0).trim().equals(HEADER)) {
      throw new IOException(file + " is not a memory timeline: its first line is not " + HEADER);
    }
    List<Sample> samples = new ArrayList<>();
    for (String line : lines.subList(1, lines.size())) {
      String[] fields = line.trim().split(",");
      if (fields.length != COLUMNS) {
        continue;
      }
      long[] values = new long[COLUMNS];
      try {
        for (int i = 0; i < COLUMNS; i++) {
          values[i] = Long.parseLong(fields[i]);
        }
      } catch (NumberFormatException e) {
        continue;
      }
      samples.add(new Sample(values[0], values[1], values[2], values[3], values[4], values[5],
          values[6], values[7], values[8], values[9], values[10]));
    }
    return new Timeline(file, List.copyOf(samples));
  }

  /** Every timeline in {@code dir} (timeline-*.csv), oldest first; none when dir is missing. */
  static List<Timeline> readAll(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    List<Timeline> timelines = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path file : files.filter(f -> f.getFileName().toString().matches("timeline-.*\\.csv"))
          .sorted().toList()) {
        timelines.add(read(file));
      }
    }
    timelines.sort((a, b) -> Long.compare(a.startMillis(), b.startMillis()));
    return timelines;
  }

  boolean isEmpty() {
    return samples.isEmpty();
  }

  long startMillis() {
    return samples.isEmpty() ? Long.MAX_VALUE : samples.get(0).epochMillis();
  }

  long endMillis() {
    return samples.isEmpty() ? Long.MIN_VALUE : samples.get(samples.size() - 1).epochMillis();
  }

  long budget() {
    return max(Sample::budget);
  }

  long peakCommittedHeap() {
    return max(Sample::committedHeap);
  }

  long peakNativeBytes() {
    return max(Sample::nativeBytes);
  }

  long peakSparkOffHeap() {
    return max(Sample::sparkOffHeap);
  }

  long peakTotal() {
    return max(Sample::total);
  }

  /** The largest resident set sampled; -1 when the executor could not read it. */
  long peakRss() {
    return samples.isEmpty() ? -1 : max(Sample::rssBytes);
  }

  /** GC episodes the plugin ran (a running total, so the last sample's value). */
  long gcEpisodes() {
    return last(Sample::gcEpisodes);
  }

  long gcTimeMillis() {
    return last(Sample::gcTimeMillis);
  }

  long spilledBytes() {
    return last(Sample::spilledBytes);
  }

  long denied() {
    return last(Sample::denied);
  }

  /** Samples at which {@code counter} rose since the sample before. */
  List<Sample> rises(ToLongFunction<Sample> counter) {
    List<Sample> rises = new ArrayList<>();
    for (int i = 1; i < samples.size(); i++) {
      if (counter.applyAsLong(samples.get(i)) > counter.applyAsLong(samples.get(i - 1))) {
        rises.add(samples.get(i));
      }
    }
    return rises;
  }

  private long max(ToLongFunction<Sample> value) {
    return samples.stream().mapToLong(value).max().orElse(0);
  }

  private long last(ToLongFunction<Sample> value) {
    return samples.isEmpty() ? 0 : value.applyAsLong(samples.get(samples.size() - 1));
  }
}

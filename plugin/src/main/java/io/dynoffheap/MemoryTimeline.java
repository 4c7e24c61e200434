package io.dynoffheap;

import io.dynoffheap.memory.DaemonScheduler;
import io.dynoffheap.timeline.MemorySample;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Samples one executor's memory at a fixed interval into a CSV file, so users can draw the
 * picture of their own jobs: committed heap and tracked native bytes against the budget, with
 * the running counts of GC episodes, spilled bytes and denials (a rise marks an event), Spark's
 * own off-heap execution and storage memory (Tungsten pages and off-heap cached blocks, outside
 * the heap and outside the plugin's native bytes: the static split's, 0 with dynamic sizing,
 * which switches Spark's off-heap memory off), and the process's resident set (-1 where the
 * system does not say), so every byte the executor's memory manager knows it holds is shown.
 *
 * <p>Columns: {@value #HEADER}. One daemon thread; a line is flushed at every sample, so the
 * file is complete up to the last sample even if the executor is killed.
 */
final class MemoryTimeline implements AutoCloseable {
  static final String HEADER = MemorySample.CSV_HEADER;
  private static final Logger LOG = LoggerFactory.getLogger(MemoryTimeline.class);

  private final Path file;
  private final Writer out;
  private final ScheduledExecutorService sampler;
  private final ExecutorMemory memory;

  private MemoryTimeline(Path file, ExecutorMemory memory, long intervalMillis) throws IOException {
    this.file = file;
    this.memory = memory;
    Files.createDirectories(file.getParent());
    this.out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
    out.write(HEADER + "\n");
    this.sampler = DaemonScheduler.named("dynoffheap-timeline");
    sampler.scheduleAtFixedRate(this::sample, 0, intervalMillis, TimeUnit.MILLISECONDS);
  }

  /** Starts sampling into {@code dir/timeline-<app>-executor-<id>.csv}; null if it cannot. */
  static MemoryTimeline start(String dir, String appId, String executorId, ExecutorMemory memory,
      long intervalMillis) {
    Path file = Path.of(dir, "timeline-" + appId + "-executor-" + executorId + ".csv");
    try {
      MemoryTimeline timeline = new MemoryTimeline(file, memory, intervalMillis);
      LOG.info("Writing the memory timeline of executor {} to {}", executorId, file);
      return timeline;
    } catch (IOException | RuntimeException e) {
      LOG.warn("Cannot write the memory timeline to {} (spark.dynoffheap.timeline.dir): {}", file, e);
      return null;
    }
  }

  Path file() {
    return file;
  }

  private synchronized void sample() {
    try {
      out.write(memory.sample().csvLine() + "\n");
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // ends the schedule: one failure, no log storm
    }
  }

  @Override
  public synchronized void close() {
    sampler.shutdownNow();
    try {
      out.close();
    } catch (IOException e) {
      LOG.warn("Closing the memory timeline {} failed", file, e);
    }
  }
}

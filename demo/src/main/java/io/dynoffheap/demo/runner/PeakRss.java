package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The peak resident memory of a cluster's executors during one run: the figure a cluster manager
 * compares with the container size (YARN's and Kubernetes' memory limits act on the resident set).
 *
 * <p>A daemon thread reads {@code VmHWM} (the "high water mark", the largest resident set the
 * process has had) from {@code /proc/<pid>/status} of every running executor every 100 ms and
 * keeps the largest value. VmHWM only grows, so the last reading before an executor exits is its
 * peak up to 100 ms before the end, when it is only freeing memory. Closing stops the thread.
 */
final class PeakRss implements AutoCloseable {
  private static final long INTERVAL_MILLIS = 100;

  private final StandaloneCluster cluster;
  private final AtomicLong peak = new AtomicLong(-1);
  private final Thread thread;

  private PeakRss(StandaloneCluster cluster) {
    this.cluster = cluster;
    this.thread = new Thread(this::sample, "executor peak RSS");
    thread.setDaemon(true);
  }

  /** Starts watching the executors of {@code cluster}. */
  static PeakRss watch(StandaloneCluster cluster) {
    PeakRss watcher = new PeakRss(cluster);
    watcher.thread.start();
    return watcher;
  }

  /** The largest VmHWM seen over all executors, in bytes; -1 when none was read. */
  long peakBytes() {
    return peak.get();
  }

  /** VmHWM of a {@code /proc/<pid>/status} text, in bytes; -1 when it has none. */
  static long highWaterMark(String status) {
    for (String line : status.split("\n")) {
      if (line.startsWith("VmHWM:")) {
        String[] fields = line.substring("VmHWM:".length()).trim().split("\\s+");
        if (fields.length == 2 && fields[1].equals("kB")) {
          return Long.parseLong(fields[0]) * 1024;
        }
      }
    }
    return -1;
  }

  private void sample() {
    while (!Thread.currentThread().isInterrupted()) {
      for (ProcessHandle executor : cluster.runningExecutors()) {
        try {
          String status = Files.readString(Path.of("/proc", String.valueOf(executor.pid()),
              "status"), StandardCharsets.UTF_8);
          long bytes = highWaterMark(status);
          peak.accumulateAndGet(bytes, Math::max);
        } catch (IOException | NumberFormatException gone) {
          // The executor exited between listing and reading: its last reading stands.
        }
      }
      try {
        Thread.sleep(INTERVAL_MILLIS);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    thread.interrupt();
    thread.join(1000);
  }
}

package io.dynoffheap.memory;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The one background thread of each of the plugin's periodic jobs (the heap watch, the CSV
 * timeline, the timeline sent to the driver): a single named daemon thread, so that none of them
 * keeps an executor's JVM alive after Spark is done with it.
 */
public final class DaemonScheduler {
  private DaemonScheduler() {}

  /** A scheduler running its jobs one at a time on one daemon thread named {@code threadName}. */
  public static ScheduledExecutorService named(String threadName) {
    return Executors.newSingleThreadScheduledExecutor(runnable -> {
      Thread thread = new Thread(runnable, threadName);
      thread.setDaemon(true);
      return thread;
    });
  }
}

package io.dynoffheap;

import io.dynoffheap.memory.DaemonScheduler;
import io.dynoffheap.timeline.MemorySample;
import io.dynoffheap.timeline.MemoryTimelineEvent;
import io.dynoffheap.timeline.SampleBatcher;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.spark.api.plugin.PluginContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends one executor's memory timeline to the driver, which writes it to Spark's event log
 * ({@link DriverSide#receive}): a daemon thread samples the executor's memory at a fixed interval,
 * a {@link SampleBatcher} groups the samples ({@value #BATCH_SAMPLES} samples or
 * {@value #BATCH_AGE_MILLIS} ms of them, whichever first), and each batch goes to the driver as
 * one {@link MemoryTimelineEvent} over the plugin's RPC ({@link PluginContext#send}, which only
 * enqueues). {@link #close} takes a last sample and sends what is left.
 *
 * <p>A batch that cannot be sent (the driver is gone) ends the sampling with one warning: the
 * executor keeps nothing it cannot deliver.
 */
final class TimelineShipper implements AutoCloseable {
  static final int BATCH_SAMPLES = 50;
  static final long BATCH_AGE_MILLIS = 5_000;
  private static final Logger LOG = LoggerFactory.getLogger(TimelineShipper.class);

  private final PluginContext context;
  private final ExecutorMemory memory;
  private final SampleBatcher batcher = new SampleBatcher(BATCH_SAMPLES, BATCH_AGE_MILLIS);
  private final ScheduledExecutorService sampler;
  private boolean failed;

  TimelineShipper(PluginContext context, ExecutorMemory memory, long intervalMillis) {
    this.context = context;
    this.memory = memory;
    this.sampler = DaemonScheduler.named("dynoffheap-timeline-events");
    sampler.scheduleAtFixedRate(this::sample, 0, intervalMillis, TimeUnit.MILLISECONDS);
  }

  private synchronized void sample() {
    batcher.add(memory.sample()).ifPresent(this::send);
  }

  private void send(List<MemorySample> batch) {
    if (failed || batch.isEmpty()) {
      return;
    }
    try {
      context.send(new MemoryTimelineEvent(context.executorID(), batch));
    } catch (IOException | RuntimeException e) {
      failed = true;
      sampler.shutdown();
      LOG.warn("Executor {} cannot send its memory timeline to the driver; the event log gets no "
          + "more of it: {}", context.executorID(), e.toString());
    }
  }

  @Override
  public synchronized void close() {
    sampler.shutdownNow();
    batcher.add(memory.sample());
    send(batcher.drain());
  }
}

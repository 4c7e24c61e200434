package io.dynoffheap.timeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Groups an executor's samples into batches, so the driver receives one message, and the event
 * log one event, per batch instead of one per sample.
 *
 * <p>A batch is complete when it holds {@code maxSamples} samples or when its oldest sample is
 * {@code maxAgeMillis} old, whichever comes first, checked as each sample is added: a batch is
 * never older than the age plus one sampling interval, and never larger than the count, so what
 * waits on the executor is bounded too. {@link #drain} hands out what is left, at shutdown. Not
 * thread-safe: one sampling thread adds.
 */
public final class SampleBatcher {
  private final int maxSamples;
  private final long maxAgeMillis;
  private final List<MemorySample> pending = new ArrayList<>();

  public SampleBatcher(int maxSamples, long maxAgeMillis) {
    if (maxSamples < 1 || maxAgeMillis < 0) {
      throw new IllegalArgumentException("A batch needs at least 1 sample and an age of 0 ms or "
          + "more, but maxSamples=" + maxSamples + " and maxAgeMillis=" + maxAgeMillis + ".");
    }
    this.maxSamples = maxSamples;
    this.maxAgeMillis = maxAgeMillis;
  }

  /** Adds a sample; returns the batch it completes, oldest first, if it completes one. */
  public Optional<List<MemorySample>> add(MemorySample sample) {
    pending.add(sample);
    boolean full = pending.size() >= maxSamples;
    boolean old = sample.epochMs - pending.get(0).epochMs >= maxAgeMillis;
    return full || old ? Optional.of(drain()) : Optional.empty();
  }

  /** The samples not yet handed out, oldest first (empty if none); the batcher is then empty. */
  public List<MemorySample> drain() {
    List<MemorySample> batch = List.copyOf(pending);
    pending.clear();
    return batch;
  }
}

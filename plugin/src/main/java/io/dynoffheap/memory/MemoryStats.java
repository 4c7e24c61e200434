package io.dynoffheap.memory;

import java.util.concurrent.atomic.LongAdder;

/**
 * Executor-wide counters of what the task trees did, for metrics: native bytes reserved by all
 * tasks (current and peak, with either mode; whole blocks, used or held as headroom), block
 * reservations granted and denied, bytes freed by spills, leaks found at task end. Updated once
 * per block a task reserves or gives back, not once per borrow; cheap from any thread.
 */
public final class MemoryStats {
  private final MemoryCounter nativeBytes = new MemoryCounter();
  private final LongAdder granted = new LongAdder();
  private final LongAdder denied = new LongAdder();
  private final LongAdder spilledBytes = new LongAdder();
  private final LongAdder leaks = new LongAdder();
  private final LongAdder leakedBytes = new LongAdder();

  void recordReservation(Grant grant) {
    if (grant.isGranted()) {
      granted.increment();
      nativeBytes.notePeak(nativeBytes.tryAdd(grant.bytes(), Long.MAX_VALUE));
    } else {
      denied.increment();
    }
  }

  void recordRelease(long bytes) {
    nativeBytes.remove(bytes, "the executor's native memory statistics");
  }

  /** Native bytes reserved by all tasks of this executor now. */
  public long nativeBytes() {
    return nativeBytes.used();
  }

  /** The most native bytes all tasks of this executor reserved at once. */
  public long peakNativeBytes() {
    return nativeBytes.peak();
  }

  void recordSpill(long bytes) {
    spilledBytes.add(bytes);
  }

  /** Counts one leaking node and its bytes. */
  public void recordLeak(MemoryLeak leak) {
    leaks.increment();
    leakedBytes.add(leak.bytes());
  }

  public long granted() {
    return granted.sum();
  }

  public long denied() {
    return denied.sum();
  }

  public long spilledBytes() {
    return spilledBytes.sum();
  }

  public long leaks() {
    return leaks.sum();
  }

  public long leakedBytes() {
    return leakedBytes.sum();
  }
}

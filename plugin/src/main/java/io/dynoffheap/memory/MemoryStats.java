package io.dynoffheap.memory;

import java.util.concurrent.atomic.LongAdder;

/**
 * Executor-wide counters of what the task trees did, for metrics: native bytes held by all
 * trees (current and peak, with either mode), reservations granted and denied at the tree roots,
 * bytes freed by spills, leaks found at task end. Cheap to update from any thread.
 */
public final class MemoryStats {
  private final MemoryCounter nativeBytes = new MemoryCounter();
  private final LongAdder granted = new LongAdder();
  private final LongAdder denied = new LongAdder();
  private final LongAdder spilledBytes = new LongAdder();
  private final LongAdder leaks = new LongAdder();
  private final LongAdder leakedBytes = new LongAdder();

  void recordBorrowing(long bytes, Borrowing borrowing) {
    if (borrowing.isGranted()) {
      granted.increment();
      nativeBytes.tryAdd(bytes, Long.MAX_VALUE);
      nativeBytes.notePeak();
    } else {
      denied.increment();
    }
  }

  void recordRepay(long bytes) {
    nativeBytes.remove(bytes, "the executor's native memory statistics");
  }

  /** Native bytes held by all task trees of this executor now. */
  public long nativeBytes() {
    return nativeBytes.used();
  }

  /** The most native bytes all task trees of this executor held at once. */
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

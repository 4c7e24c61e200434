package io.dynoffheap.memory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Current and peak bytes of one target, updated without locks.
 *
 * <p>Admission against a limit is a single compare-and-set on the current value, so concurrent
 * callers can never together exceed the limit (there is no window between "check" and "add").
 * Removal refuses to go below zero, so a wrong repay can never corrupt the counter.
 */
final class MemoryCounter {
  private final AtomicLong used = new AtomicLong();
  private final AtomicLong peak = new AtomicLong();

  /**
   * Adds {@code bytes} if the result stays at or below {@code limit}; false otherwise. The peak
   * is not raised: a caller whose admission may still be taken back (a parent may deny) calls
   * {@link #notePeak()} once it is final, so denied requests never show in the peak.
   */
  boolean tryAdd(long bytes, long limit) {
    while (true) {
      long current = used.get();
      if (bytes > limit - current) {
        return false;
      }
      if (used.compareAndSet(current, current + bytes)) {
        return true;
      }
    }
  }

  /** Raises the peak to the current value. */
  void notePeak() {
    long candidate = used.get();
    long seen = peak.get();
    while (candidate > seen && !peak.compareAndSet(seen, candidate)) {
      seen = peak.get();
    }
  }

  /** Removes {@code bytes}; throws, leaving the counter unchanged, if fewer are held. */
  void remove(long bytes, String owner) {
    while (true) {
      long current = used.get();
      if (bytes > current) {
        throw new IllegalStateException(
            "repay of " + bytes + " bytes to '" + owner + "', which holds only " + current);
      }
      if (used.compareAndSet(current, current - bytes)) {
        return;
      }
    }
  }

  /** Removes everything and returns what was held. */
  long removeAll() {
    return used.getAndSet(0);
  }

  long used() {
    return used.get();
  }

  long peak() {
    return peak.get();
  }
}

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

  /** Adds {@code bytes} if the result stays at or below {@code limit}; false otherwise. */
  boolean tryAdd(long bytes, long limit) {
    while (true) {
      long current = used.get();
      if (bytes > limit - current) {
        return false;
      }
      long next = current + bytes;
      if (used.compareAndSet(current, next)) {
        raisePeak(next);
        return true;
      }
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

  private void raisePeak(long candidate) {
    long seen = peak.get();
    while (candidate > seen && !peak.compareAndSet(seen, candidate)) {
      seen = peak.get();
    }
  }
}

package io.dynoffheap.memory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Current and peak bytes of one target, updated without locks.
 *
 * <p>Admission against a limit is a single compare-and-set on the current value, so concurrent
 * callers can never together exceed the limit (there is no window between "check" and "add").
 * Removal refuses to go below zero, so a wrong repay can never corrupt the counter. The peak is
 * raised from the total an admission produced, so it costs one read unless it is a new peak.
 */
final class MemoryCounter {
  private final AtomicLong used = new AtomicLong();
  private final PeakBytes peak = new PeakBytes();

  /**
   * Adds {@code bytes} if the result stays at or below {@code limit} and returns the new total,
   * or returns -1 and adds nothing. The peak is not raised: a caller whose admission may still be
   * taken back (a parent may deny) calls {@link #notePeak(long)} with the total once it is final,
   * so denied requests never show in the peak.
   */
  long tryAdd(long bytes, long limit) {
    while (true) {
      long current = used.get();
      if (bytes > limit - current) {
        return -1;
      }
      long total = current + bytes;
      if (used.compareAndSet(current, total)) {
        return total;
      }
    }
  }

  /** Raises the peak to {@code total} if it is higher. */
  void notePeak(long total) {
    peak.note(total);
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

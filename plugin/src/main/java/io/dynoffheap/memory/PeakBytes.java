package io.dynoffheap.memory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The highest byte count a target reached, raised without locks: a candidate costs one read
 * unless it is a new peak.
 */
final class PeakBytes {
  private final AtomicLong highest = new AtomicLong();

  /** Raises the peak to {@code bytes} if it is higher. */
  void note(long bytes) {
    long seen = highest.get();
    while (bytes > seen && !highest.compareAndSet(seen, bytes)) {
      seen = highest.get();
    }
  }

  long get() {
    return highest.get();
  }
}

package io.dynoffheap.memory;

import java.util.function.LongSupplier;

/**
 * The executor-wide limit of dynamic off-heap sizing: native bytes are admitted only while
 *
 * <pre>  committed heap + tracked native bytes + request &lt;= budget</pre>
 *
 * where the budget is the executor's memory (its max heap, i.e. spark.executor.memory) and the
 * committed heap is what the JVM has taken from the OS ({@code Runtime.totalMemory()}).
 *
 * <p>Admission is one compare-and-set on the tracked native bytes, so any number of threads
 * admitting at once can never together overshoot the budget. The committed heap is read just
 * before, on every admission; the JVM grows it on its own, which no one can admit or deny, and
 * that is why a GC that lets the heap shrink (see {@link GcCoordinator}) gives native memory room
 * again.
 *
 * <p>Tasks admit whole reservation blocks ({@link TaskReservation}), so the tracked native bytes
 * are what the executor's tasks have committed to, used or held as headroom. A block admission
 * asks for a range: the whole block if it fits, otherwise exactly what the task needs, so a
 * request that fits the budget exactly is still admitted near the limit.
 *
 * <p>One instance per executor, owned by the executor's memory runtime; never a static.
 */
public final class ExecutorQuota {
  private final long budget;
  private final LongSupplier committedHeap;
  private final MemoryCounter nativeBytes = new MemoryCounter();

  /**
   * @param budget bytes the heap and native memory may use together
   * @param committedHeap the JVM's committed heap, normally {@code Runtime.getRuntime()::totalMemory}
   */
  public ExecutorQuota(long budget, LongSupplier committedHeap) {
    if (budget <= 0) {
      throw new IllegalArgumentException("the executor memory budget must be positive, was " + budget);
    }
    this.budget = budget;
    this.committedHeap = committedHeap;
  }

  /** Admits {@code bytes} of native memory if they fit now; false leaves nothing admitted. */
  public boolean tryAdmit(long bytes) {
    return tryAdmit(bytes, bytes) > 0;
  }

  /**
   * Admits {@code max} bytes if they fit now, otherwise {@code min} if those fit; returns the
   * bytes admitted, or 0 (nothing admitted).
   */
  public long tryAdmit(long min, long max) {
    if (min <= 0 || max < min) {
      throw new IllegalArgumentException("native admission of " + min + " to " + max
          + " bytes: the sizes must be positive and in order");
    }
    long limit = budget - committedHeap.getAsLong();
    long total = nativeBytes.tryAdd(max, limit);
    long admitted = max;
    if (total < 0 && min < max) {
      total = nativeBytes.tryAdd(min, limit);
      admitted = min;
    }
    if (total < 0) {
      return 0;
    }
    nativeBytes.notePeak(total);
    return admitted;
  }

  /** Gives back {@code bytes} admitted earlier. */
  public void release(long bytes) {
    nativeBytes.remove(bytes, "the executor's native memory quota");
  }

  public long budget() {
    return budget;
  }

  public long committedHeap() {
    return committedHeap.getAsLong();
  }

  public long nativeBytes() {
    return nativeBytes.used();
  }

  public long peakNativeBytes() {
    return nativeBytes.peak();
  }

  /** The budget and what fills it now, for messages: "budget B = committed heap H + …". */
  public String describe() {
    return "budget " + Bytes.format(budget) + " = committed heap " + Bytes.format(committedHeap())
        + " + tracked native " + Bytes.format(nativeBytes()) + " + room "
        + Bytes.format(Math.max(0, room()));
  }

  /** Bytes a request could get right now: budget − committed heap − native held (may be negative). */
  public long room() {
    return budget - committedHeap() - nativeBytes();
  }
}

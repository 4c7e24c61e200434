package io.dynoffheap.memory;

import java.util.function.LongUnaryOperator;

/**
 * Puts a task's native memory under the executor quota: a borrow is first admitted by the
 * {@link ShortfallLadder}, then passed on to the target below (the task's registration with
 * Spark). A denial by the ladder leaves nothing anywhere; a denial or exception from below gives
 * the admission back.
 */
final class QuotaTarget implements MemoryTarget {
  private final MemoryTarget below;
  private final ShortfallLadder ladder;
  private final LongUnaryOperator spill;

  /**
   * @param below the target the bytes are also borrowed from
   * @param spill frees memory of the task when the ladder asks: bytes wanted → bytes freed
   */
  QuotaTarget(MemoryTarget below, ShortfallLadder ladder, LongUnaryOperator spill) {
    this.below = below;
    this.ladder = ladder;
    this.spill = spill;
  }

  @Override
  public String name() {
    return "quota";
  }

  @Override
  public Borrowing borrow(long bytes) {
    Borrowing admission = ladder.admit(bytes, spill);
    if (!admission.isGranted()) {
      return admission;
    }
    Borrowing registration;
    try {
      registration = below.borrow(bytes);
    } catch (RuntimeException | Error e) {
      ladder.quota().release(bytes);
      throw e;
    }
    if (!registration.isGranted()) {
      ladder.quota().release(bytes);
    }
    return registration;
  }

  @Override
  public void repay(long bytes) {
    ladder.quota().release(bytes);
    below.repay(bytes);
  }

  @Override
  public long usedBytes() {
    return below.usedBytes();
  }

  @Override
  public long peakBytes() {
    return below.peakBytes();
  }
}

package io.dynoffheap.memory;

import java.util.function.LongUnaryOperator;

/**
 * Puts a task's blocks under the executor quota: a take is first admitted by the
 * {@link ShortfallLadder} (a whole block if it fits, else exactly what is needed), then the
 * admitted bytes are taken from the source below (the task's registration with Spark). A denial
 * by the ladder leaves nothing anywhere; a denial or exception from below gives the admission
 * back.
 */
final class QuotaSource implements BlockSource {
  private final BlockSource below;
  private final ShortfallLadder ladder;
  private final LongUnaryOperator spill;

  /**
   * @param below the source the admitted bytes are also taken from
   * @param spill frees memory of the task when the ladder asks: bytes wanted → bytes freed
   */
  QuotaSource(BlockSource below, ShortfallLadder ladder, LongUnaryOperator spill) {
    this.below = below;
    this.ladder = ladder;
    this.spill = spill;
  }

  @Override
  public Grant take(long min, long max) {
    Grant admission = ladder.admit(min, max, spill);
    if (!admission.isGranted()) {
      return admission;
    }
    long admitted = admission.bytes();
    Grant registration;
    try {
      registration = below.take(admitted, admitted);
    } catch (RuntimeException | Error e) {
      ladder.quota().release(admitted);
      throw e;
    }
    if (!registration.isGranted()) {
      ladder.quota().release(admitted);
    }
    return registration;
  }

  @Override
  public void give(long bytes) {
    ladder.quota().release(bytes);
    below.give(bytes);
  }

  /** The quota takes the bytes back at once (one atomic step); the source below may owe them. */
  @Override
  public void giveFromAnyThread(long bytes) {
    ladder.quota().release(bytes);
    below.giveFromAnyThread(bytes);
  }
}

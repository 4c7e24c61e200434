package io.dynoffheap.memory;

/**
 * How far and for how long committed heap + native memory went over the budget, as sampled.
 * Admission is exact when it runs, but the JVM grows the committed heap afterwards on its own,
 * so the sum can pass the budget between admissions; the container's overhead must absorb
 * that, and these figures say how much of it was needed.
 *
 * <p>Algorithm. Each sample gives the excess (heap + native − budget, negative when under) at a
 * time. The peak is the largest excess seen. An excursion starts at the first sample over the
 * budget and ends at the first sample under it; its time, from start to end, is added to the
 * time above the budget (a running excursion counts up to the latest sample). Sampling is as
 * fine as the caller's interval: a shorter excursion between two samples is not seen.
 */
public final class BudgetOvershoot {
  private long peakExcessBytes;
  private long nanosAbove;
  private long excursions;
  /** When the running excursion started, or -1 when under the budget. */
  private long aboveSinceNanos = -1;
  private long lastSampleNanos;

  /** Records that heap + native was {@code excessBytes} over the budget at {@code nowNanos}. */
  public synchronized void sample(long excessBytes, long nowNanos) {
    if (excessBytes > 0) {
      peakExcessBytes = Math.max(peakExcessBytes, excessBytes);
      if (aboveSinceNanos < 0) {
        aboveSinceNanos = nowNanos;
        excursions++;
      }
    } else if (aboveSinceNanos >= 0) {
      nanosAbove += nowNanos - aboveSinceNanos;
      aboveSinceNanos = -1;
    }
    lastSampleNanos = nowNanos;
  }

  /** The largest excess over the budget seen, in bytes (0 if never over). */
  public synchronized long peakExcessBytes() {
    return peakExcessBytes;
  }

  /** Time spent over the budget, the running excursion included up to the latest sample. */
  public synchronized long nanosAboveBudget() {
    return nanosAbove + (aboveSinceNanos < 0 ? 0 : lastSampleNanos - aboveSinceNanos);
  }

  /** How many times heap + native went over the budget. */
  public synchronized long excursions() {
    return excursions;
  }
}

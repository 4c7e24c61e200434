package io.dynoffheap.demo.runner;

/**
 * Finds the largest size for which a trial completes, with a bounded number of trials, assuming
 * that whatever completes at one size completes at every smaller size.
 *
 * <ol>
 *   <li>Bracket: try {@code start}; while trials complete, double (up to {@code ceiling}, which
 *       is tried at most once); if the first fails, halve until one completes (down to one
 *       granule). This gives the largest known completing size {@code lo} (0 if none) and the
 *       smallest known failing size {@code hi}.
 *   <li>Bisect: while {@code hi - lo} is more than {@code resolution * lo} (and more than one
 *       granule), try the middle, rounded to the granule, and move {@code lo} or {@code hi}.
 * </ol>
 * It stops early when {@code maxTrials} trials have run; the outcome then says how wide the
 * bracket still is. Sizes are multiples of {@code granule}.
 */
final class CapacitySearch {
  /** Runs the workload at a size and says whether it completed. */
  interface Trial {
    boolean completes(long size) throws Exception;
  }

  /**
   * @param largestCompleted the largest size that completed, 0 if none did
   * @param smallestFailed   the smallest size that failed, -1 if none did (the ceiling completed)
   * @param trials           how many trials ran
   */
  record Outcome(long largestCompleted, long smallestFailed, int trials) {}

  private final long start;
  private final long ceiling;
  private final long granule;
  private final double resolution;
  private final int maxTrials;

  CapacitySearch(long start, long ceiling, long granule, double resolution, int maxTrials) {
    if (granule <= 0 || start < granule || ceiling < start || maxTrials < 1) {
      throw new IllegalArgumentException("need 0 < granule <= start <= ceiling and maxTrials >= 1");
    }
    this.start = round(start, granule);
    this.ceiling = round(ceiling, granule);
    this.granule = granule;
    this.resolution = resolution;
    this.maxTrials = maxTrials;
  }

  Outcome run(Trial trial) throws Exception {
    long lo = 0;
    long hi = -1;
    int trials = 0;
    long size = start;
    boolean up = true;
    while (trials < maxTrials) {
      boolean ok = trial.completes(size);
      trials++;
      if (trials == 1) {
        up = ok;
      }
      if (ok) {
        lo = size;
      } else {
        hi = size;
      }
      if (up && ok && size < ceiling) {
        size = Math.min(2 * size, ceiling);
      } else if (!up && !ok && size > granule) {
        size = Math.max(granule, round(size / 2, granule));
      } else {
        break;
      }
    }
    while (trials < maxTrials && hi > 0 && hi - lo > Math.max(granule, resolution * lo)) {
      long middle = round(lo + (hi - lo) / 2, granule);
      if (middle <= lo || middle >= hi) {
        break;
      }
      if (trial.completes(middle)) {
        lo = middle;
      } else {
        hi = middle;
      }
      trials++;
    }
    return new Outcome(lo, hi, trials);
  }

  private static long round(long size, long granule) {
    return Math.max(granule, Math.round((double) size / granule) * granule);
  }
}

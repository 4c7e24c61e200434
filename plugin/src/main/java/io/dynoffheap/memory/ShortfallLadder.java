package io.dynoffheap.memory;

import java.util.concurrent.TimeUnit;
import java.util.function.LongUnaryOperator;

/**
 * Admits a native request against the {@link ExecutorQuota}, freeing memory in order of cost
 * when it does not fit, and only then denies it:
 *
 * <p>A request is a range: at least {@code min} bytes (what the task needs), {@code max} if that
 * fits (a whole reservation block); every attempt admits {@code max} when it fits and otherwise
 * {@code min} ({@link ExecutorQuota#tryAdmit(long, long)}), and the ladder frees only for
 * {@code min}.
 *
 * <ol>
 *   <li>admit at once if it fits;
 *   <li>reclaim: take back what every running task reserved and does not use (headroom, unused
 *       blocks of native pools and Arrow allocators) in one executor-wide sweep shared by the
 *       threads short at the moment ({@link IdleReclaim}), then try again; no data is spilled;
 *   <li>GC: take part in one executor-wide GC episode that lets the heap shrink
 *       ({@link GcCoordinator}: shared by all waiting threads, rate-limited), then try again.
 *       It comes before the spill: garbage on the heap costs one shared collection to give back,
 *       while a spill writes live data out, and a heap grown by an earlier stage is the usual
 *       reason the budget looks short;
 *   <li>spill: ask the task to free the shortfall (Spark spills the task's consumers, the task's
 *       tree spills its nodes), then try again; if the spill freed memory and the quota is still
 *       short, what it freed is heap that only a collection gives back: one more shared episode,
 *       which started after the spill and which the minimum interval does not hold back
 *       ({@link GcCoordinator#collectAfterSpill}),
 *       and try again;
 *   <li>retry up to {@code retries} more times, sleeping {@code backoff}, 2×, 4×, … in between,
 *       each time sharing a new GC episode if the interval allows one (other tasks may finish
 *       and release memory meanwhile). A request that no episode has served yet (the interval
 *       held it back: another request's episode, or the {@link HeapWatch}'s, ended just before
 *       it fell short) sleeps at least until the interval allows one, so it never fails for want
 *       of a collection that the interval alone kept from it; and the last retry waits for the
 *       interval when that is {@link #LAST_RETRY_MAX_WAIT_NANOS} away or less, so a task fails
 *       only after an episode that started once the earlier ones had done their work (a heap
 *       that one collection shrank only in part after a spill, say): a denial comes up to one
 *       interval later, which costs less than the failed task;
 *   <li>deny, with the figures a user needs: request, budget, committed heap, native bytes,
 *       what was reclaimed and spilled, how many episodes and retries were tried (or why no
 *       episode could run: the interval since the last one), and what to change.
 * </ol>
 * A denial leaves nothing admitted. The ladder holds no lock while it spills, collects or sleeps.
 *
 * <p>{@link #roomForJvm} climbs the first two rungs for a JVM consumer of Spark's that the
 * native tree's registration stands in the way of: how much room the budget has for it, after
 * an idle reclaim and one shared GC episode when it is short.
 */
public final class ShortfallLadder {
  /** The setting that changes every denial of the quota. */
  static final String BUDGET_SETTING =
      "raise spark.executor.memory (the one budget for heap and native memory together)";
  /** The setting behind {@link GcCoordinator#minIntervalNanos()}. */
  static final String GC_INTERVAL_SETTING = "spark.dynoffheap.gc.interval";
  /**
   * Longest wait of the last retry for the interval to allow one more episode (twice the
   * default interval); with a longer interval the last retry only backs off.
   */
  static final long LAST_RETRY_MAX_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);

  private final ExecutorQuota quota;
  private final IdleReclaim idle;
  private final GcCoordinator gc;
  private final int retries;
  private final long backoffNanos;

  /**
   * @param retries how many times to retry after the first GC episode (0 or more)
   * @param backoffMillis the first wait between retries, doubled at each retry
   */
  public ShortfallLadder(ExecutorQuota quota, IdleReclaim idle, GcCoordinator gc, int retries,
      long backoffMillis) {
    if (retries < 0 || backoffMillis < 0) {
      throw new IllegalArgumentException(
          "retries and back-off must not be negative, were " + retries + " and " + backoffMillis);
    }
    this.quota = quota;
    this.idle = idle;
    this.gc = gc;
    this.retries = retries;
    this.backoffNanos = TimeUnit.MILLISECONDS.toNanos(backoffMillis);
  }

  public ExecutorQuota quota() {
    return quota;
  }

  public IdleReclaim idle() {
    return idle;
  }

  public GcCoordinator gc() {
    return gc;
  }

  /**
   * Admits at least {@code min} and at most {@code max} bytes, or denies after the whole ladder.
   *
   * @param spill frees memory of the requesting task: given the bytes wanted, returns bytes freed
   */
  public Grant admit(long min, long max, LongUnaryOperator spill) {
    long admitted = quota.tryAdmit(min, max);
    if (admitted > 0) {
      return Grant.of(admitted);
    }
    long episodesBefore = gc.completedEpisodes();
    IdleReclaim.Sweep reclaimed = idle.reclaim();
    admitted = quota.tryAdmit(min, max);
    if (admitted > 0) {
      return Grant.of(admitted);
    }
    long seenEpisodes = episodesBefore;
    long sleepNanos = backoffNanos;
    long spilled = 0;
    for (int attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        boolean served = gc.completedEpisodes() > episodesBefore;
        long untilEpisode = gc.nanosUntilNextEpisode();
        boolean awaitEpisode = !served
            || (attempt == retries && untilEpisode <= LAST_RETRY_MAX_WAIT_NANOS);
        if (!sleep(awaitEpisode ? Math.max(sleepNanos, untilEpisode) : sleepNanos)) {
          break;
        }
        sleepNanos *= 2;
      }
      gc.collectAfter(seenEpisodes);
      admitted = quota.tryAdmit(min, max);
      if (admitted > 0) {
        return Grant.of(admitted);
      }
      seenEpisodes = gc.completedEpisodes();
      if (attempt == 0) {
        spilled = spill.applyAsLong(Math.max(1, min - quota.room()));
        admitted = quota.tryAdmit(min, max);
        if (admitted > 0) {
          return Grant.of(admitted);
        }
        if (spilled > 0) {
          gc.collectAfterSpill();
          admitted = quota.tryAdmit(min, max);
          if (admitted > 0) {
            return Grant.of(admitted);
          }
          seenEpisodes = gc.completedEpisodes();
        }
      }
    }
    return Grant.denied(Borrowing.denied(
        describeShortfall(min, reclaimed, spilled, gc.completedEpisodes() - episodesBefore),
        BUDGET_SETTING));
  }

  /**
   * Room the budget has for {@code bytes} more of Spark's JVM memory on the heap: the quota's
   * room now, or when that is short, after one idle reclaim and then one shared GC episode (which
   * the minimum interval may refuse). May be less than {@code bytes}, or negative.
   */
  public long roomForJvm(long bytes) {
    long room = quota.room();
    if (room >= bytes) {
      return room;
    }
    long episodesBefore = gc.completedEpisodes();
    idle.reclaim();
    room = quota.room();
    if (room >= bytes) {
      return room;
    }
    gc.collectAfter(episodesBefore);
    return quota.room();
  }

  private String describeShortfall(long bytes, IdleReclaim.Sweep reclaimed, long spilled,
      long episodes) {
    return "dynamic off-heap sizing could not admit " + Bytes.format(bytes)
        + " of native memory: " + quota.describe()
        + "; tried: reclaimed " + Bytes.format(reclaimed.bytes()) + " idle from "
        + reclaimed.tasks() + " task(s)"
        + ", spill freed " + Bytes.format(spilled)
        + ", " + describeEpisodes(episodes)
        + ", " + retries + " retries with back-off";
  }

  /**
   * The GC episodes this request took part in; when none, whether that was the minimum interval
   * (an episode of another request ended just before).
   */
  private String describeEpisodes(long episodes) {
    long sinceLast = gc.nanosSinceLastEpisode();
    if (episodes > 0 || sinceLast < 0 || sinceLast >= gc.minIntervalNanos()) {
      return episodes + " GC episode(s) that let the heap shrink";
    }
    return "no new GC episode: the last one ended " + TimeUnit.NANOSECONDS.toMillis(sinceLast)
        + " ms ago, " + GC_INTERVAL_SETTING + "="
        + TimeUnit.NANOSECONDS.toMillis(gc.minIntervalNanos()) + "ms";
  }

  private static boolean sleep(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}

package io.dynoffheap.memory;

import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Executor-wide GC episodes for threads short of native memory: one collection shared by every
 * thread that is waiting, never one per thread, and never more often than a minimum interval.
 *
 * <p>Algorithm. Episodes are numbered by a counter of completed episodes. A thread whose
 * admission failed reads the counter first ({@link #completedEpisodes()}) and then calls
 * {@link #collectAfter(long)} with what it read:
 * <ol>
 *   <li>if an episode completed since then, that episode already helped it: return at once;
 *   <li>if an episode is running, wait for it to complete, and return;
 *   <li>if the last episode ended less than the minimum interval ago, do not collect: a steady
 *       shortfall must not become a GC storm (the caller backs off and retries);
 *   <li>otherwise this thread runs the episode (outside the lock: others may wait meanwhile),
 *       with the heap allowed to shrink ({@link HeapShrink}), and wakes all waiters.
 * </ol>
 * So N threads short at the same moment cause one episode, whatever N is.
 *
 * <p>{@link #collectAfterSpill()} is for a thread whose spill just freed memory that only a
 * collection turns into room (Spark's JVM consumers freed heap pages): it needs an episode that
 * started after the spill (one running meanwhile may have looked at the heap before), and step 3
 * does not apply. Each such episode follows a spill that freed something, so it cannot repeat
 * without work being written out between, and it is still shared by every thread waiting then.
 */
public final class GcCoordinator {
  private static final Logger LOG = LoggerFactory.getLogger(GcCoordinator.class);

  private final Runnable collection;
  private final HeapShrink heapShrink;
  private final long minIntervalNanos;
  private final LongSupplier nanoClock;

  private long completed;
  /** Episodes claimed so far (the running one included). */
  private long started;
  private boolean running;
  private long lastEndNanos;
  private long totalNanos;

  /**
   * @param collection the collection itself, normally {@code System::gc}
   * @param heapShrink lets the heap shrink during the collection
   * @param minIntervalNanos least time between the end of one episode and the start of the next
   * @param nanoClock normally {@code System::nanoTime}
   */
  public GcCoordinator(Runnable collection, HeapShrink heapShrink, long minIntervalNanos,
      LongSupplier nanoClock) {
    if (minIntervalNanos < 0) {
      throw new IllegalArgumentException("GC interval must not be negative, was " + minIntervalNanos);
    }
    this.collection = collection;
    this.heapShrink = heapShrink;
    this.minIntervalNanos = minIntervalNanos;
    this.nanoClock = nanoClock;
  }

  /** Episodes completed so far (also those whose collection failed). */
  public synchronized long completedEpisodes() {
    return completed;
  }

  /** Nanoseconds since the last episode ended, or -1 when none has completed. */
  public synchronized long nanosSinceLastEpisode() {
    return completed == 0 ? -1 : nanoClock.getAsLong() - lastEndNanos;
  }

  /** Nanoseconds until the minimum interval lets a new episode start; 0 when it already does. */
  public synchronized long nanosUntilNextEpisode() {
    return completed == 0 ? 0
        : Math.max(0, minIntervalNanos - (nanoClock.getAsLong() - lastEndNanos));
  }

  /** The least time between the end of one episode and the start of the next. */
  public long minIntervalNanos() {
    return minIntervalNanos;
  }

  /** Time spent in completed episodes, in nanoseconds. */
  public synchronized long totalEpisodeNanos() {
    return totalNanos;
  }

  /**
   * Makes sure an episode completed after the caller saw {@code seenEpisodes} completed ones:
   * shares a running or just-finished one, or runs one. Returns false when none could be had
   * because of the minimum interval, or when the thread was interrupted while waiting.
   */
  public boolean collectAfter(long seenEpisodes) {
    synchronized (this) {
      while (true) {
        if (completed > seenEpisodes) {
          return true;
        }
        if (!running) {
          break;
        }
        if (!awaitEpisodeEnd()) {
          return false;
        }
      }
      if (completed > 0 && nanoClock.getAsLong() - lastEndNanos < minIntervalNanos) {
        return false;
      }
      running = true;
      started++;
    }
    runEpisode();
    return true;
  }

  /**
   * Makes sure an episode that started after this call completes, not held back by the minimum
   * interval: the caller's spill has just freed memory that needs a collection to become room,
   * and an episode that was already running (for another thread, or the {@link HeapWatch})
   * may not have seen it. Returns false only when the thread was interrupted while waiting.
   */
  public boolean collectAfterSpill() {
    synchronized (this) {
      long startedBefore = started;
      while (true) {
        if (!running && started > startedBefore) {
          return true;
        }
        if (!running) {
          break;
        }
        if (!awaitEpisodeEnd()) {
          return false;
        }
      }
      running = true;
      started++;
    }
    runEpisode();
    return true;
  }

  /** Waits, holding the monitor, for a running episode to end; false when interrupted. */
  private boolean awaitEpisodeEnd() {
    try {
      wait();
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Runs the episode this thread claimed, outside the monitor, and wakes every waiter. */
  private void runEpisode() {
    long start = nanoClock.getAsLong();
    try {
      heapShrink.collect(collection);
    } catch (RuntimeException e) {
      LOG.warn("A GC episode for native memory failed; the heap-free ratios were restored", e);
    } finally {
      synchronized (this) {
        running = false;
        completed++;
        lastEndNanos = nanoClock.getAsLong();
        totalNanos += lastEndNanos - start;
        notifyAll();
      }
    }
  }
}

package io.dynoffheap.memory;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Executor-wide sweeps that take idle reservations back for the quota: every running task
 * registers its {@link IdleMemory}, and a thread whose quota admission failed asks all of them to
 * give back what they reserved and do not use, before anything is spilled or collected.
 *
 * <p>Algorithm. Sweeps are numbered in the order they start and run one at a time. A thread
 * short of memory wants a sweep that starts after it fell short (one that started earlier may
 * have passed a task before that task's headroom grew):
 * <ol>
 *   <li>if such a sweep has completed meanwhile, it already served this thread: return its
 *       figures;
 *   <li>if a sweep is running, wait for it and look again;
 *   <li>otherwise this thread runs the sweep (outside the lock: others may wait meanwhile), asks
 *       every registered holder in turn, and wakes all waiters.
 * </ol>
 * So N threads short at once cause one or two sweeps, whatever N is. A sweep costs a few atomic
 * operations per task and one native call per native pool, no more; the holders promise to take
 * no lock of Spark (see {@link IdleMemory}), which is why any thread may run it.
 */
public final class IdleReclaim {
  private static final Logger LOG = LoggerFactory.getLogger(IdleReclaim.class);

  /**
   * The figures of one sweep.
   *
   * @param bytes bytes given back to the quota
   * @param tasks how many holders (tasks) gave back something
   */
  public record Sweep(long bytes, int tasks) {
    static final Sweep NONE = new Sweep(0, 0);
  }

  private final Set<IdleMemory> holders = ConcurrentHashMap.newKeySet();

  private long started;
  private long completed;
  private boolean running;
  private Sweep last = Sweep.NONE;
  private long totalBytes;

  /** Lets sweeps take back idle memory of {@code holder} until {@link #unregister}. */
  public void register(IdleMemory holder) {
    holders.add(holder);
  }

  public void unregister(IdleMemory holder) {
    holders.remove(holder);
  }

  /** Sweeps completed so far. */
  public synchronized long completedSweeps() {
    return completed;
  }

  /** Bytes all sweeps gave back to the quota so far. */
  public synchronized long reclaimedBytes() {
    return totalBytes;
  }

  /**
   * Takes idle memory back from every registered holder in a sweep that starts after this call
   * began, shared with other threads; returns that sweep's figures (none when interrupted while
   * waiting).
   */
  public Sweep reclaim() {
    synchronized (this) {
      long wanted = started + 1;
      while (true) {
        if (completed >= wanted) {
          return last;
        }
        if (!running) {
          break;
        }
        try {
          wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return Sweep.NONE;
        }
      }
      running = true;
      started++;
    }
    Sweep sweep = Sweep.NONE;
    try {
      sweep = sweepAll();
      return sweep;
    } finally {
      synchronized (this) {
        running = false;
        completed++;
        last = sweep;
        totalBytes += sweep.bytes();
        notifyAll();
      }
    }
  }

  private Sweep sweepAll() {
    long bytes = 0;
    int tasks = 0;
    for (IdleMemory holder : holders) {
      try {
        long given = holder.reclaimIdle();
        if (given > 0) {
          bytes += given;
          tasks++;
        }
      } catch (RuntimeException e) {
        LOG.warn("Taking idle native memory back from {} failed; the sweep goes on", holder, e);
      }
    }
    return new Sweep(bytes, tasks);
  }
}

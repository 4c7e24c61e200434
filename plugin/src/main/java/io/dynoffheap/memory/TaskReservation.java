package io.dynoffheap.memory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The account of a task's tree root: memory taken from the task's {@link BlockSource} (Spark, or
 * the executor quota and Spark) in whole blocks up front, and lent to the root from the unused
 * part, the headroom, so that most borrows and repays touch one atomic counter.
 *
 * <p>Counting. Three counters, two of which only grow: {@code taken}, the bytes ever taken from
 * the source; {@code givenBack}, the bytes ever given back to it; and {@code spent}, the bytes
 * lent to the root now plus the bytes ever given back. So the root holds
 * {@code spent - givenBack}, the task holds {@code taken - givenBack} from the source, and the
 * headroom is {@code taken - spent}. Lending and giving back both claim headroom the same way:
 * one compare-and-set raising {@code spent}, never above {@code taken}. Because {@code taken}
 * never shrinks, a borrower that read it a moment ago can only be too cautious, and because a
 * give-back claims through the same counter as the lending, the two can never hand out the same
 * bytes, and the root never holds more than was taken. A give-back raises {@code spent} before
 * {@code givenBack}, so a reader that reads {@code givenBack} first never sees the root hold
 * less than it does (a repay of everything it holds is never refused).
 *
 * <p>Algorithm.
 * <ol>
 *   <li>Borrow, fast path: if the headroom holds the bytes, claim them.
 *   <li>Borrow, slow path: claim all the headroom there is and ask the source for the rest,
 *       {@code need}: at least {@code need}, and {@code need} rounded up to whole blocks (one
 *       block for a small request) if that fits at once. {@code need} is lent first, then the
 *       grant is added to {@code taken}, so no other borrower can take it in between; what the
 *       source grants beyond {@code need} becomes headroom. Near the limit the source grants
 *       exactly {@code need}, so a request that fits exactly is admitted and one byte more is
 *       not.
 *   <li>Denial (or an exception from the source): the headroom the request had claimed goes back
 *       to the source, so a denial leaves nothing reserved for it.
 *   <li>Repay: the bytes become headroom; when the headroom exceeds two blocks, all but one block
 *       goes back to the source. The gap between the two is the hysteresis: a task going back and
 *       forth around a block boundary does not call the source every time.
 *   <li>{@link #shrink()}: all the headroom goes back: the first step of every spill and the last
 *       step after one.
 *   <li>{@link #reclaim}: another thread, short of quota, takes the idle memory back: first the
 *       task's pools and allocators give their unused blocks back to the tree (what reaches this
 *       reservation on that thread stays headroom, the give-back above two blocks is skipped),
 *       then all the headroom goes back with {@link BlockSource#giveFromAnyThread}, which takes no
 *       lock of the task: the quota gets the bytes at once, Spark's registration is settled by the
 *       task's own thread later.
 *   <li>{@link #close()}: at task end, after the root has given back what it still held: no
 *       reclaim runs from now on, and all the headroom goes back.
 * </ol>
 *
 * <p>Every byte taken from the source and given back is counted in the executor's
 * {@link MemoryStats}, once per block, not once per borrow.
 *
 * <p>Thread safety: borrow and repay are lock-free; any thread may call them at once. Two
 * threads on the slow path at the same time may each take a block; the extra headroom goes back
 * at a later repay, spill or close. A give-back claims and then counts the bytes as given back;
 * the two steps run under a small lock, {@code givingBack}, which the root's final release also
 * holds, so that release reads the root's share with no give-back half done (it would count the
 * bytes on their way back as the root's, and the close would give them back twice). Readers of
 * the used bytes and the peak take no lock and may count such bytes for a moment. A reclaim and
 * the close hold another lock of this reservation against each other, so a reclaim never gives
 * back to a closed task. Nothing that runs under either lock waits for another thread.
 */
final class TaskReservation implements NodeAccount {
  private final BlockSource source;
  private final long blockSize;
  private final MemoryStats stats;
  /** Bytes ever taken from the source. */
  private final AtomicLong taken = new AtomicLong();
  /** Bytes lent to the root now, plus {@link #givenBack}; at most {@link #taken} once settled. */
  private final AtomicLong spent = new AtomicLong();
  /** Bytes ever given back to the source. */
  private final AtomicLong givenBack = new AtomicLong();
  private final PeakBytes peakLent = new PeakBytes();
  /** Makes a give-back's claim and count one step for the root's final release. */
  private final Object givingBack = new Object();
  /** Orders reclaims and the close. */
  private final Object reclaimLock = new Object();
  /** Guarded by {@link #reclaimLock}. */
  private boolean closed;
  /** The thread running {@link #reclaim}, whose repays stay headroom; written under the lock. */
  private volatile Thread reclaiming;

  TaskReservation(BlockSource source, long blockSize, MemoryStats stats) {
    if (blockSize <= 0) {
      throw new IllegalArgumentException(
          "the reservation block size must be positive, was " + blockSize);
    }
    this.source = source;
    this.blockSize = blockSize;
    this.stats = stats;
  }

  @Override
  public Borrowing borrow(long bytes) {
    while (true) {
      long given = givenBack.get();
      long before = spent.get();
      if (taken.get() - before < bytes) {
        return borrowFromSource(bytes);
      }
      if (spent.compareAndSet(before, before + bytes)) {
        peakLent.note(before + bytes - given);
        return Borrowing.granted();
      }
    }
  }

  private Borrowing borrowFromSource(long bytes) {
    long claimed = claimHeadroomAbove(0);
    if (claimed >= bytes) {
      // The headroom grew since the fast path looked: the claim covers the request.
      long given = givenBack.get();
      peakLent.note(spent.addAndGet(bytes - claimed) - given);
      return Borrowing.granted();
    }
    long need = bytes - claimed;
    Grant grant;
    try {
      grant = source.take(need, roundUpToBlocks(need));
    } catch (RuntimeException | Error e) {
      giveBack(claimed);
      throw e;
    }
    stats.recordReservation(grant);
    if (!grant.isGranted()) {
      giveBack(claimed);
      return grant.outcome();
    }
    long given = givenBack.get();
    long lent = spent.addAndGet(need) - given;
    taken.addAndGet(grant.bytes());
    peakLent.note(lent);
    giveBackAboveTwoBlocks();
    return Borrowing.granted();
  }

  @Override
  public void repay(long bytes) {
    while (true) {
      long given = givenBack.get();
      long before = spent.get();
      long lent = before - given;
      if (bytes > lent) {
        throw new IllegalStateException(
            "repay of " + bytes + " bytes to the task's reservation, which lent only " + lent);
      }
      if (spent.compareAndSet(before, before - bytes)) {
        break;
      }
    }
    giveBackAboveTwoBlocks();
  }

  /**
   * Above two blocks of headroom, gives all but one block back to the source, unless this thread
   * is reclaiming (it takes all the headroom right after, without the task's lock).
   */
  private void giveBackAboveTwoBlocks() {
    if (taken.get() - spent.get() > 2 * blockSize && reclaiming != Thread.currentThread()) {
      giveToSource(claimForGiveBack(blockSize));
    }
  }

  /** Gives all the headroom back to the source; returns the bytes given back. */
  long shrink() {
    long free = claimForGiveBack(0);
    giveToSource(free);
    return free;
  }

  /**
   * Takes the task's idle memory back from any thread: runs {@code releaseUnused} (the task's
   * pools and allocators give back unused blocks to the tree), then gives all the headroom back
   * without taking a lock of the task. Returns the bytes given back; 0 once closed.
   */
  long reclaim(Runnable releaseUnused) {
    synchronized (reclaimLock) {
      if (closed) {
        return 0;
      }
      reclaiming = Thread.currentThread();
      try {
        releaseUnused.run();
      } finally {
        reclaiming = null;
      }
      long free = claimForGiveBack(0);
      if (free > 0) {
        source.giveFromAnyThread(free);
      }
      return free;
    }
  }

  /**
   * The root's final release: what the root still holds becomes headroom; returns it. No
   * give-back is half done meanwhile (see the class comment).
   */
  @Override
  public long releaseAll() {
    synchronized (givingBack) {
      while (true) {
        long given = givenBack.get();
        long before = spent.get();
        long lent = before - given;
        if (lent <= 0 || spent.compareAndSet(before, before - lent)) {
          return Math.max(lent, 0);
        }
      }
    }
  }

  /** Ends reclaims, then gives all the headroom back: the task's last step. */
  void close() {
    synchronized (reclaimLock) {
      closed = true;
    }
    shrink();
  }

  /**
   * Claims the headroom above {@code keep} bytes for a give-back or for the slow path of a
   * borrow; returns the bytes claimed, 0 if the headroom is not above {@code keep}.
   */
  private long claimHeadroomAbove(long keep) {
    while (true) {
      long before = spent.get();
      long excess = taken.get() - before - keep;
      if (excess <= 0) {
        return 0;
      }
      if (spent.compareAndSet(before, before + excess)) {
        return excess;
      }
    }
  }

  /**
   * Claims the headroom above {@code keep} bytes and counts it as given back, here and in the
   * executor's statistics; the caller gives it to the source. Returns the bytes, maybe 0.
   */
  private long claimForGiveBack(long keep) {
    synchronized (givingBack) {
      long claimed = claimHeadroomAbove(keep);
      countGivenBack(claimed);
      return claimed;
    }
  }

  /** Gives bytes claimed for a borrow back to the source, when the borrow failed. */
  private void giveBack(long claimed) {
    countGivenBack(claimed);
    giveToSource(claimed);
  }

  private void giveToSource(long bytes) {
    if (bytes > 0) {
      source.give(bytes);
    }
  }

  private void countGivenBack(long claimed) {
    if (claimed > 0) {
      givenBack.addAndGet(claimed);
      stats.recordRelease(claimed);
    }
  }

  /** {@code bytes} rounded up to whole blocks; {@code bytes} itself if that would overflow. */
  private long roundUpToBlocks(long bytes) {
    long missing = blockSize - 1 - (bytes - 1) % blockSize;
    return bytes > Long.MAX_VALUE - missing ? bytes : bytes + missing;
  }

  /** Bytes the root holds. */
  @Override
  public long usedBytes() {
    long given = givenBack.get();
    return spent.get() - given;
  }

  @Override
  public long peakBytes() {
    return peakLent.get();
  }

  /** Bytes held from the source: what the root uses plus the headroom. */
  @Override
  public long reservedBytes() {
    long given = givenBack.get();
    return taken.get() - given;
  }
}

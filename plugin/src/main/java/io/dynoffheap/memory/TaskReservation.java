package io.dynoffheap.memory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory a task's tree root borrows from: taken from the task's {@link BlockSource} (Spark,
 * or the executor quota and Spark) in whole blocks up front, and lent to the root from the unused
 * part, the headroom, so that most borrows touch only atomic counters.
 *
 * <p>Algorithm.
 * <ol>
 *   <li>Borrow, fast path: if the headroom holds the bytes, take them with one compare-and-set.
 *   <li>Borrow, slow path: take all the headroom there is and ask the source for the rest,
 *       {@code need}: at least {@code need}, and {@code need} rounded up to whole blocks (one
 *       block for a small request) if that fits at once. What the source grants beyond
 *       {@code need} becomes headroom. Near the limit the source grants exactly {@code need}, so
 *       a request that fits exactly is admitted and one byte more is not.
 *   <li>Denial (or an exception from the source): the headroom the request had taken goes back to
 *       the source, so a denial leaves nothing reserved for it.
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
 * <p>Thread safety: borrow, repay and shrink are lock-free; any thread may call them at once. Two
 * threads on the slow path at the same time may each take a block; the extra headroom goes back
 * at a later repay, spill or close. A reclaim and the close hold a small lock of this reservation
 * against each other (so a reclaim never gives back to a closed task); nothing that runs under it
 * waits for another thread.
 */
final class TaskReservation implements MemoryTarget {
  private final BlockSource source;
  private final long blockSize;
  private final MemoryStats stats;
  /** Bytes taken from the source and not lent to the root. */
  private final AtomicLong headroom = new AtomicLong();
  /** Bytes taken from the source: lent plus headroom. */
  private final MemoryCounter reserved = new MemoryCounter();
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
  public String name() {
    return "reservation";
  }

  @Override
  public Borrowing borrow(long bytes) {
    while (true) {
      long free = headroom.get();
      if (free < bytes) {
        return borrowFromSource(bytes);
      }
      if (headroom.compareAndSet(free, free - bytes)) {
        return Borrowing.granted();
      }
    }
  }

  private Borrowing borrowFromSource(long bytes) {
    long taken = headroom.getAndSet(0);
    if (taken >= bytes) {
      addHeadroom(taken - bytes);
      return Borrowing.granted();
    }
    long need = bytes - taken;
    Grant grant;
    try {
      grant = source.take(need, roundUpToBlocks(need));
    } catch (RuntimeException | Error e) {
      giveBack(taken);
      throw e;
    }
    stats.recordReservation(grant);
    if (!grant.isGranted()) {
      giveBack(taken);
      return grant.outcome();
    }
    reserved.notePeak(reserved.tryAdd(grant.bytes(), Long.MAX_VALUE));
    addHeadroom(grant.bytes() - need);
    return Borrowing.granted();
  }

  @Override
  public void repay(long bytes) {
    addHeadroom(bytes);
  }

  /**
   * Adds to the headroom; above two blocks, gives all but one block back to the source, unless
   * this thread is reclaiming (it takes all the headroom right after, without the task's lock).
   */
  private void addHeadroom(long bytes) {
    long free = headroom.addAndGet(bytes);
    while (free > 2 * blockSize && reclaiming != Thread.currentThread()) {
      if (headroom.compareAndSet(free, blockSize)) {
        giveBack(free - blockSize);
        return;
      }
      free = headroom.get();
    }
  }

  /** Gives all the headroom back to the source; returns the bytes given back. */
  long shrink() {
    long free = headroom.getAndSet(0);
    giveBack(free);
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
      long free = headroom.getAndSet(0);
      if (free > 0) {
        unreserve(free);
        source.giveFromAnyThread(free);
      }
      return free;
    }
  }

  /** Ends reclaims, then gives all the headroom back: the task's last step. */
  void close() {
    synchronized (reclaimLock) {
      closed = true;
    }
    shrink();
  }

  private void giveBack(long bytes) {
    if (bytes > 0) {
      unreserve(bytes);
      source.give(bytes);
    }
  }

  /** Counts {@code bytes} as no longer reserved, here and in the executor's statistics. */
  private void unreserve(long bytes) {
    reserved.remove(bytes, "the task's reservation");
    stats.recordRelease(bytes);
  }

  /** {@code bytes} rounded up to whole blocks; {@code bytes} itself if that would overflow. */
  private long roundUpToBlocks(long bytes) {
    long missing = blockSize - 1 - (bytes - 1) % blockSize;
    return bytes > Long.MAX_VALUE - missing ? bytes : bytes + missing;
  }

  /** Bytes held from the source: what the root uses plus the headroom. */
  @Override
  public long usedBytes() {
    return reserved.used();
  }

  @Override
  public long peakBytes() {
    return reserved.peak();
  }
}

package io.dynoffheap.arrow;

import io.dynoffheap.memory.Arguments;
import io.dynoffheap.memory.Bytes;
import io.dynoffheap.memory.SpillPhase;
import io.dynoffheap.memory.TreeNode;
import java.util.Optional;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.AllocationOutcome;
import org.apache.arrow.memory.AllocationOutcomeDetails;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.OutOfMemoryException;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Arrow {@link AllocationListener} that reserves the memory of Arrow buffers from a node of a
 * task's memory tree, in whole blocks, before the buffers exist.
 *
 * <h2>Accounting</h2>
 * The listener keeps two numbers under one small lock: {@code allocated}, the bytes of Arrow
 * buffers it has counted, and {@code reserved}, the bytes it has borrowed from its node. Outside
 * a call in progress they satisfy
 * <pre>  allocated &lt;= reserved &lt;= allocated rounded up to a whole block</pre>
 * and {@code reserved} is exactly that rounded figure unless a {@link SpillPhase#SHRINK} gave the
 * unused tail of the last block back ({@link #shrink()}). (Bytes of Arrow's
 * {@code AllocationReservation} path, see below, may exceed {@code reserved} until the next
 * pre-allocation.)
 * <ul>
 *   <li>{@link #onPreAllocation}: before Arrow creates a buffer. The buffer's bytes come first
 *       from the free tail of the reservation; what is missing is borrowed from the node in whole
 *       blocks with {@link TreeNode#reserve}, which, with dynamic sizing, runs the whole shortfall
 *       ladder (spill, shared GC, retries). A denial throws Arrow's {@link OutOfMemoryException}
 *       whose message is the plugin's (request, reason, the task's usage tree, the setting to
 *       change); nothing stays counted. A size outside [1 B, 16 TiB] is a wrong argument, not a
 *       shortage ({@link Arguments}): it throws {@link IllegalArgumentException} before anything
 *       is counted. The node is never touched in {@link #onAllocation}: a
 *       failure there could not be reported and would leak the buffer.
 *   <li>{@link #onRelease}: the buffer's bytes are uncounted, and whole blocks that are no longer
 *       needed go back to the node at once.
 *   <li>{@link #onFailedAllocation}: Arrow calls it only when its own accounting refused the
 *       buffer, i.e. an Arrow limit (of the root or of a child allocator) and not the plugin,
 *       whose refusal is the exception above. The shortfall ladder has already run for the
 *       plugin's reservation and can do nothing for an Arrow limit; the one step that can is a
 *       spill of this listener's node, whose spiller closes buffers of the allocator (see
 *       {@link ArrowSpiller}). So: spill the node (phase {@link SpillPhase#SPILL}) for the size,
 *       then ask Arrow for its one retry if the refusing allocator has room now; otherwise throw
 *       Arrow's {@link OutOfMemoryException} with Arrow's figures and the plugin's usage tree.
 * </ul>
 *
 * <h2>Failed allocations</h2>
 * Arrow does not tell the listener when an allocation fails after {@code onPreAllocation}
 * succeeded (the retry after {@code onFailedAllocation} fails, or the memory itself cannot be
 * had). Each thread therefore remembers the one pre-allocation it has not seen confirmed by
 * {@code onAllocation} yet: Arrow calls these listener methods for one buffer in sequence on the
 * allocating thread, with no other call of this listener in between, so an unconfirmed
 * pre-allocation found by the thread's next call belonged to a failed allocation and is uncounted
 * then (and, at the latest, when the listener closes). The same record recognises an
 * {@code onAllocation} that had no pre-allocation (Arrow's {@code AllocationReservation} path):
 * its bytes are counted then, without borrowing, and the next pre-allocation covers them.
 *
 * <h2>One listener for a whole allocator tree</h2>
 * Arrow child allocators made with {@code newChildAllocator(name, reservation, limit)} inherit
 * their parent's listener. Moving a buffer between allocators of one tree
 * ({@code transferOwnership}) changes only Arrow's own accounting, never calls a listener, and
 * the buffer's release is reported to the listener of its last owner: with one listener for the
 * whole tree the bytes are counted once, when created, and uncounted once, when freed. A child
 * made with another listener is not counted here (a warning says so).
 *
 * <h2>Threads and locks</h2>
 * Buffers may be allocated and released on any thread. The listener's lock guards only its two
 * numbers and is never held while it calls the node (which may take the TaskMemoryManager's lock,
 * spill, collect or sleep), so spills that release Arrow buffers, on this or other threads, go
 * through. Arrow calls {@code onRelease} holding the buffer's allocation manager; the node's
 * repay then takes the TaskMemoryManager's lock, so a spiller (which runs under that lock) must
 * not release a buffer that another thread is releasing at the same moment.
 */
public final class TreeReservationListener implements AllocationListener {
  private static final Logger LOG = LoggerFactory.getLogger(TreeReservationListener.class);

  private final TreeNode node;
  private final long blockSize;
  private final TreeNode reportTree;
  private final Object lock = new Object();
  /** Bytes of Arrow buffers counted, including those being allocated right now. */
  private long allocated;
  /** Bytes borrowed from the node. */
  private long reserved;
  private boolean closed;
  /** Per thread: the size of the last pre-allocation not yet confirmed, or 0. */
  private final ThreadLocal<long[]> unconfirmed = ThreadLocal.withInitial(() -> new long[1]);

  /**
   * @param node the node the buffers' memory is borrowed from
   * @param blockSize the size of each borrow (spark.gluten.memory.reservationBlockSize)
   * @param reportTree the node whose usage tree Arrow-limit errors show, normally the task's root
   */
  public TreeReservationListener(TreeNode node, long blockSize, TreeNode reportTree) {
    Arguments.size(blockSize, "TreeReservationListener(node, blockSize, reportTree)", "blockSize",
        node);
    this.node = node;
    this.blockSize = blockSize;
    this.reportTree = reportTree;
  }

  public TreeNode node() {
    return node;
  }

  public long blockSize() {
    return blockSize;
  }

  /** Bytes of Arrow buffers this listener has counted. */
  public long allocatedBytes() {
    synchronized (lock) {
      return allocated;
    }
  }

  /**
   * Bytes this listener holds from its node: the allocated bytes rounded up to whole blocks, or
   * fewer after a {@link #shrink()}.
   */
  public long reservedBytes() {
    synchronized (lock) {
      return reserved;
    }
  }

  /**
   * Counts a buffer Arrow is about to create; a size outside [1 B, 16 TiB] (e.g. from
   * {@code buffer(Long.MAX_VALUE)}) throws {@link IllegalArgumentException} and counts nothing.
   */
  @Override
  public void onPreAllocation(long size) {
    Arguments.size(size, "Arrow buffer allocation (onPreAllocation(size))", "size", node);
    long[] pending = unconfirmed.get();
    dropUnconfirmed(pending);
    count(size);
    pending[0] = size;
  }

  @Override
  public void onAllocation(long size) {
    long[] pending = unconfirmed.get();
    if (pending[0] == size) {
      pending[0] = 0;
      return;
    }
    try {
      dropUnconfirmed(pending);
      synchronized (lock) {
        if (!closed) {
          allocated += size;
        }
      }
    } catch (RuntimeException e) {
      LOG.error("Could not count an Arrow buffer of {} bytes in memory node '{}'", size,
          node.path(), e);
    }
  }

  @Override
  public void onRelease(long size) {
    try {
      uncount(size);
    } catch (RuntimeException e) {
      LOG.error("Could not give back the reservation of an Arrow buffer of {} bytes to memory node "
          + "'{}'", size, node.path(), e);
    }
  }

  @Override
  public boolean onFailedAllocation(long size, AllocationOutcome outcome) {
    long[] pending = unconfirmed.get();
    // Hide this allocation's count while the spill runs, in case a spiller allocates on this thread.
    long mine = pending[0];
    pending[0] = 0;
    long spilled = 0;
    try {
      long before = node.usedBytes();
      node.spill(SpillPhase.SPILL, size);
      spilled = Math.max(0, before - node.usedBytes());
    } catch (RuntimeException e) {
      LOG.warn("Spilling memory node '{}' for an Arrow allocation of {} bytes failed", node.path(),
          size, e);
    }
    Optional<BufferAllocator> refusing = outcome.getDetails()
        .map(AllocationOutcomeDetails::getFailedAllocator);
    final long freed = spilled;
    boolean fitsNow = refusing.map(allocator -> allocator.getHeadroom() >= size)
        .orElse(freed > 0);
    if (fitsNow) {
      pending[0] = mine;
      return true;
    }
    uncount(mine);
    throw new OutOfMemoryException(arrowLimitMessage(size, refusing, spilled, outcome),
        outcome.getDetails());
  }

  @Override
  public void onChildAdded(BufferAllocator parentAllocator, BufferAllocator childAllocator) {
    if (childAllocator.getListener() != this) {
      LOG.warn("Arrow child allocator '{}' of '{}' has a listener of its own: its buffers are not "
          + "counted in memory node '{}'. Make children with newChildAllocator(name, reservation, "
          + "limit), which keeps the parent's listener", childAllocator.getName(),
          parentAllocator.getName(), node.path());
    }
  }

  /**
   * Gives the unused tail of the reservation back to the node (the {@link SpillPhase#SHRINK}
   * step); returns the bytes given back.
   */
  public long shrink() {
    long excess;
    synchronized (lock) {
      excess = closed ? 0 : reserved - Math.max(allocated, 0);
      if (excess <= 0) {
        return 0;
      }
      reserved -= excess;
    }
    node.repay(excess);
    return excess;
  }

  /**
   * Stops counting: from now on pre-allocations fail and releases are ignored. Gives everything
   * still reserved back to the node and returns those bytes.
   */
  public long close() {
    long toRepay;
    synchronized (lock) {
      if (closed) {
        return 0;
      }
      closed = true;
      toRepay = reserved;
      allocated = 0;
      reserved = 0;
    }
    if (toRepay > 0) {
      node.repay(toRepay);
    }
    return toRepay;
  }

  /** Counts {@code size} bytes, borrowing whole blocks for what the reservation lacks. */
  private void count(long size) {
    long taken;
    long borrow;
    synchronized (lock) {
      checkOpen(size);
      long free = reserved - allocated;
      taken = Math.max(0, Math.min(free, size));
      // Bytes counted earlier without a reservation (free < 0) are covered here too.
      borrow = roundUp(size - taken + Math.max(0, -free));
      allocated += taken;
    }
    if (borrow == 0) {
      return;
    }
    try {
      node.reserve(borrow);
    } catch (SparkOutOfMemoryError denial) {
      uncount(taken);
      throw denied(size, borrow, denial);
    } catch (RuntimeException | Error e) {
      uncount(taken);
      throw e;
    }
    boolean wasClosed;
    long excess = 0;
    synchronized (lock) {
      wasClosed = closed;
      if (!closed) {
        reserved += borrow;
        allocated += size - taken;
        excess = trimLocked();
      }
    }
    if (wasClosed) {
      node.repay(borrow);
      checkOpen(size);
    }
    if (excess > 0) {
      node.repay(excess);
    }
  }

  /** Uncounts {@code size} bytes and gives blocks no longer needed back to the node. */
  private void uncount(long size) {
    if (size == 0) {
      return;
    }
    long excess;
    synchronized (lock) {
      if (closed) {
        return;
      }
      if (size > allocated) {
        LOG.warn("Arrow released {} bytes in memory node '{}', which counted only {}", size,
            node.path(), allocated);
      }
      allocated = Math.max(0, allocated - size);
      excess = trimLocked();
    }
    if (excess > 0) {
      node.repay(excess);
    }
  }

  private void dropUnconfirmed(long[] pending) {
    long stale = pending[0];
    if (stale != 0) {
      pending[0] = 0;
      uncount(stale);
    }
  }

  /** Lowers the reservation to the allocated bytes rounded up to a block; returns what to repay. */
  private long trimLocked() {
    long needed = roundUp(Math.max(allocated, 0));
    if (reserved <= needed) {
      return 0;
    }
    long excess = reserved - needed;
    reserved = needed;
    return excess;
  }

  private long roundUp(long bytes) {
    if (bytes <= 0) {
      return 0;
    }
    long blocks = (bytes - 1) / blockSize + 1;
    return Math.multiplyExact(blocks, blockSize);
  }

  private void checkOpen(long size) {
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("Arrow allocation of " + size + " bytes in memory node '"
            + node.path() + "', whose allocator was closed at the end of its task");
      }
    }
  }

  private OutOfMemoryException denied(long size, long borrow, SparkOutOfMemoryError denial) {
    String message = "Arrow could not allocate a buffer of " + Bytes.format(size)
        + ": memory node '" + node.path() + "' was denied " + Bytes.format(borrow)
        + " (whole blocks of " + Bytes.format(blockSize)
        + ", spark.gluten.memory.reservationBlockSize). " + denial.getMessage();
    return new OutOfMemoryException(message, denial);
  }

  private String arrowLimitMessage(long size, Optional<BufferAllocator> refusing, long spilled,
      AllocationOutcome outcome) {
    String where = refusing.map(a -> "allocator '" + a.getName() + "' (limit "
        + Bytes.format(a.getLimit()) + ", allocated " + Bytes.format(a.getAllocatedMemory())
        + ")").orElse("the allocator");
    return "Arrow could not allocate a buffer of " + Bytes.format(size) + ": it does not fit in "
        + where + ", an Arrow limit set by the code that made the allocator; spilling memory node '"
        + node.path() + "' freed " + Bytes.format(spilled) + ".\n"
        + outcome.getDetails().map(Object::toString).orElse("")
        + "Usage tree (used, peak):\n" + reportTree.usage().render()
        + "To change: the limit of that Arrow allocator, or let its spiller close more buffers";
  }
}

package io.dynoffheap;

import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.SpillPhase;
import io.dynoffheap.memory.TreeNode;
import io.dynoffheap.nativebridge.NativePool;
import io.dynoffheap.nativebridge.PoolReservations;
import java.util.List;
import java.util.function.LongSupplier;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A native pool (libdynoffheap, see {@code dynoffheap.h}) bound to a node of a task's tree:
 * native code allocates through {@link #handle()}, the pool reserves whole blocks from the node,
 * and Spark's spill requests reach the native side's spill function.
 *
 * <ul>
 *   <li>Reserve: the pool's block request becomes {@link TreeNode#reserve}, which runs the whole
 *       chain (quota, shortfall ladder, Spark). A denial throws the plugin's
 *       {@link SparkOutOfMemoryError}; the bridge keeps it and the native allocation gets NULL.
 *   <li>Release: blocks the pool gives back are repaid to the node.
 *   <li>Spill: in the {@link SpillPhase#SHRINK} phase the pool gives back its unused blocks; in
 *       {@link SpillPhase#SPILL} it calls the native spill function, then gives back what became
 *       free. A pool is never asked to spill from inside its own reservation on the same thread
 *       (the native code is in the middle of an allocation there).
 *   <li>Calls: {@link #call} runs a native function of the operator and turns a failure caused
 *       by a denial back into the plugin's error, with the reason and the usage tree. A misuse
 *       of the pool during the call (a double free, a free of the wrong kind or size: refused
 *       by the library, see {@code dynoffheap.h}) fails the call with the library's text.
 *   <li>Idle: {@link #releaseUnused()} gives the pool's whole unused blocks back from any thread
 *       (the native shrink takes only the pool's short accounting lock), when the executor
 *       reclaims idle memory; not from inside the pool's own reservation on the same thread.
 *   <li>Task end: the pool is closed; bytes native code still holds are reported as a leak of
 *       the node, and every reserved block goes back. Misuses that no call saw are logged.
 *   <li>Debug mode (spark.dynoffheap.debug): the pool runs in libdynoffheap's debug mode, so
 *       the leak names the native sites that allocated the bytes still held (the library's
 *       leak report, see {@code dynoffheap_bridge.h}), and a misuse text names where the block
 *       was allocated and first freed.
 * </ul>
 */
public final class TaskPool implements TaskScoped {
  private static final Logger LOG = LoggerFactory.getLogger(TaskPool.class);

  private final TreeNode node;
  private final NativePool pool;
  /** The thread inside this pool's reserve callback, if any (the bridge runs one at a time). */
  private volatile Thread reserving;

  TaskPool(TaskNativeMemory task, String name) {
    this.node = task.newNode(name, TreeNode.UNLIMITED, this::spill);
    this.pool = new NativePool(new NodeReservations(), task.reservationBlock(), node.path(),
        task.debug());
  }

  /** The handle native code turns into a pool with {@code dynoffheap_pool_from_handle()}. */
  public long handle() {
    return pool.handle();
  }

  /** The node the pool reserves from. */
  public TreeNode node() {
    return node;
  }

  /** Bytes native code holds from this pool now. */
  public long used() {
    return pool.used();
  }

  /** Bytes reserved from the node (whole blocks). */
  public long reserved() {
    return pool.reserved();
  }

  /**
   * Runs a native call that returns a negative number on failure. A failure caused by a denied
   * reservation is rethrown as the plugin's {@link SparkOutOfMemoryError} (request, reason,
   * usage tree, setting to change); one caused by a reservation of a size no budget can hold
   * (above 16 TiB, e.g. a negative size cast to {@code size_t}) as
   * {@link IllegalArgumentException} naming the size and the limit; a misuse of the pool during
   * the call and any other failure as {@link IllegalStateException} with the pool's error text.
   */
  public long call(LongSupplier nativeCall) {
    pool.takeLastDenial();
    long misusesBefore = pool.misuses();
    long result = nativeCall.getAsLong();
    long misuses = pool.misuses();
    if (misuses != misusesBefore) {
      throw new IllegalStateException(misuseReport(misuses));
    }
    if (result >= 0) {
      return result;
    }
    Throwable denial = pool.takeLastDenial();
    if (denial instanceof SparkOutOfMemoryError outOfMemory) {
      throw outOfMemory;
    }
    if (denial instanceof IllegalArgumentException badSize) {
      throw new IllegalArgumentException("native call on memory node '" + node.path()
          + "' failed with " + result + ": it asked the pool for a wrong size. "
          + badSize.getMessage(), badSize);
    }
    IllegalStateException failure = new IllegalStateException("native call on memory node '"
        + node.path() + "' failed with " + result + ": " + pool.lastError());
    if (denial != null) {
      failure.initCause(denial);
    }
    throw failure;
  }

  private String misuseReport(long misuses) {
    return "native code misused memory node '" + node.path() + "': " + misuses
        + " call(s) refused by libdynoffheap, the first: " + pool.firstMisuse()
        + ". Fix the native code's frees; with spark.dynoffheap.debug=true (or DYNOFFHEAP_DEBUG=1"
        + " in the executor's environment, spark.executorEnv.DYNOFFHEAP_DEBUG=1) the library also"
        + " catches the misuse its fast path cannot see and names where the block was allocated"
        + " and first freed (see dynoffheap.h)";
  }

  @Override
  public List<MemoryLeak> close() {
    long misuses = pool.misuses();
    if (misuses > 0) {
      LOG.error(misuseReport(misuses));
    }
    long leaked = pool.closeAndReportLeaks();
    if (leaked <= 0) {
      return List.of();
    }
    String report = pool.leakReport();
    return List.of(new MemoryLeak(node.path() + " (native allocations not freed)", leaked,
        report.isEmpty() ? "" : "; native " + report));
  }

  @Override
  public long releaseUnused() {
    return reserving == Thread.currentThread() ? 0 : pool.shrink();
  }

  private long spill(TreeNode self, SpillPhase phase, long bytes) {
    if (reserving == Thread.currentThread()) {
      return 0;
    }
    return phase == SpillPhase.SHRINK ? pool.shrink() : pool.spill(bytes);
  }

  /** The pool's account: the node. */
  private final class NodeReservations implements PoolReservations {
    @Override
    public void reserve(long bytes) {
      reserving = Thread.currentThread();
      try {
        node.reserve(bytes);
      } finally {
        reserving = null;
      }
    }

    @Override
    public void release(long bytes) {
      node.repay(bytes);
    }
  }
}

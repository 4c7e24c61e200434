package io.dynoffheap.memory;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apache.spark.memory.MemoryConsumer;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.TaskMemoryManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Spark {@link MemoryConsumer} per task for native memory, with a tree of named nodes
 * under it ({@link #root()}). The root borrows from the task's {@link TaskReservation}, which
 * takes memory from the task's {@link TaskMemoryManager} (and, with dynamic sizing, the executor
 * quota) in blocks of spark.gluten.memory.reservationBlockSize, so Spark sees native memory, can
 * ask it to spill, and is called once per block rather than once per borrow.
 *
 * <p>Two ways to count against Spark, chosen at construction:
 * <ul>
 *   <li>{@link #staticSplit}: the off-heap pool (spark.memory.offHeap.size) is the hard limit, as
 *       with Spark's static split today. Consumer mode OFF_HEAP; a block Spark does not grant in
 *       full is taken as far as the task needs it, and denied below that.
 *   <li>{@link #dynamic}: dynamic off-heap sizing. The hard limit is the executor quota, reached
 *       through the {@link ShortfallLadder}; Spark's execution pool is neither a cap nor a reason
 *       to spill. The consumer is ON_HEAP, in the pool of Spark's JVM-side consumers
 *       (TaskMemoryManager spills only consumers of the requester's mode), and registers there
 *       only what the pool has free ({@link SparkExecutionPool}): a native block admitted by the
 *       quota never makes Spark spill a sort or an aggregation. The registration is how Spark's
 *       consumers reach the quota: a JVM consumer short of pool makes Spark ask this tree to
 *       spill, and the tree hands back registration for it without freeing native memory as
 *       long as the budget has room for the JVM consumer's request (after reclaiming idle
 *       reservations and one shared GC episode if needed); only when the budget is short does
 *       the tree spill native memory for it.
 * </ul>
 *
 * <p>Spill: when Spark calls {@link #spill(long, MemoryConsumer)} (or the ladder spills for its
 * shortfall) and the registration cannot answer it, the reservation first gives back its
 * headroom, then the tree runs the
 * {@link SpillPhase#SHRINK} phase over all nodes, largest first, then {@link SpillPhase#SPILL}
 * while more is wanted, and what the nodes gave back leaves the reservation at once. In dynamic
 * mode a spill that Spark asks of this consumer for its own request is refused: that request does
 * not need Spark's room, only the quota's.
 *
 * <p>Idle memory: with dynamic sizing, a thread of another task short of quota may take this
 * task's idle reservation back ({@link #reclaimIdle}). It gives the bytes back to the quota only:
 * returning them to Spark would mean taking this task's TaskMemoryManager monitor from a foreign
 * thread, which may itself hold its own task's monitor (a native allocation inside a spill) while
 * this task's thread, in the same situation, waits for that one: a lock-order deadlock. The
 * bytes stay registered with Spark, as they were while they were headroom, and are owed: this
 * task's own next call into Spark (a block taken or given back, a spill Spark asks for, the
 * close) frees them there.
 *
 * <p>Locking: Spark updates a consumer's used bytes without a lock of its own and calls
 * {@code spill} while holding the TaskMemoryManager's monitor. Every call into Spark here holds
 * that same monitor, so there is one lock, always taken in the same order, and native threads
 * of the task may borrow at the same time as the task thread.
 */
public final class TreeMemoryConsumer extends MemoryConsumer {
  private static final Logger LOG = LoggerFactory.getLogger(TreeMemoryConsumer.class);
  private final boolean sparkIsLimit;
  private final ShortfallLadder ladder;
  /** Dynamic sizing's non-spilling registration; null: through the TaskMemoryManager. */
  private final SparkExecutionPool pool;
  private final SparkRegistration spark = new SparkRegistration();
  private final TaskReservation reservation;
  private final TreeNode root;
  private final LongAdder spilledBytes = new LongAdder();
  private final MemoryStats stats;
  /**
   * Bytes Spark granted to this consumer; written under the TaskMemoryManager's monitor, read by
   * {@link #getUsed()} from any thread.
   */
  private volatile long registered;
  /** Whether this task has said once that the budget was short for a JVM consumer. */
  private boolean warnedShortForJvm;

  private TreeMemoryConsumer(TaskMemoryManager tmm, MemoryMode mode, String name, long blockSize,
      ShortfallLadder ladder, MemoryStats stats) {
    super(tmm, mode);
    this.sparkIsLimit = ladder == null;
    this.ladder = ladder;
    this.pool = sparkIsLimit ? null : SparkExecutionPool.of(tmm);
    this.stats = stats;
    BlockSource source = sparkIsLimit ? spark : new QuotaSource(spark, ladder, this::spillForShortfall);
    this.reservation = new TaskReservation(source, blockSize, stats);
    this.root = new TreeNode(name, reservation);
  }

  /**
   * Native memory limited by Spark's off-heap execution pool (the toggle is off), reserved in
   * blocks of {@code blockSize}.
   */
  public static TreeMemoryConsumer staticSplit(TaskMemoryManager tmm, String name, long blockSize,
      MemoryStats stats) {
    return new TreeMemoryConsumer(tmm, MemoryMode.OFF_HEAP, name, blockSize, null, stats);
  }

  /**
   * Native memory limited by the executor quota through {@code ladder} (the toggle is on),
   * reserved in blocks of {@code blockSize}.
   */
  public static TreeMemoryConsumer dynamic(TaskMemoryManager tmm, String name, long blockSize,
      ShortfallLadder ladder, MemoryStats stats) {
    return new TreeMemoryConsumer(tmm, MemoryMode.ON_HEAP, name, blockSize, ladder, stats);
  }

  /** The root of this task's tree: add named children to it. */
  public TreeNode root() {
    return root;
  }

  /** Bytes reserved from Spark (and the quota) for this task: what the root uses plus headroom. */
  public long reservedBytes() {
    return reservation.reservedBytes();
  }

  /**
   * What Spark counts for this consumer: with dynamic sizing the registration is taken from the
   * memory manager directly ({@link SparkExecutionPool}), past MemoryConsumer's own counter (a
   * {@code long} field up to Spark 4.1, an {@code AtomicLong} from 4.2: this class touches neither).
   */
  @Override
  public long getUsed() {
    return pool == null ? super.getUsed() : super.getUsed() + registered;
  }

  /** Bytes freed by spills Spark or the ladder asked for. */
  public long spilledBytes() {
    return spilledBytes.sum();
  }

  /**
   * Spark asks for {@code size} bytes for {@code trigger}: what a reclaim left owed goes back
   * first; with dynamic sizing, registration is handed back as far as the budget has room for
   * the trigger's request; only the rest is spilled from the tree.
   */
  @Override
  public long spill(long size, MemoryConsumer trigger) {
    if (trigger == this && !sparkIsLimit) {
      return 0;
    }
    long freed = spark.settle();
    if (!sparkIsLimit && freed < size) {
      freed += spark.handBack(size - freed);
    }
    if (freed < size) {
      freed += spillTree(size - freed);
    }
    if (!sparkIsLimit && freed < size && !warnedShortForJvm) {
      warnedShortForJvm = true;
      LOG.warn("{}: Spark's consumer {} asked for {} and native memory gave back {}: the budget "
          + "had no room for it on the heap ({}) and the native tree could spill no more. If the "
          + "task fails with UNABLE_TO_ACQUIRE_MEMORY from that consumer, raise "
          + "spark.executor.memory or let the native code spill. Native memory of this task:\n{}",
          root.name(), trigger, Bytes.format(size), Bytes.format(freed), ladder.quota().describe(),
          root.usage().render());
    }
    return freed;
  }

  /**
   * Takes this task's idle reservation back for the executor quota, from any thread: first
   * {@code releaseUnused} (the task's pools and allocators give back their unused blocks), then
   * the root's headroom. Spark's part is owed (see the class comment). Returns the bytes the quota
   * got back; 0 once the task is closed.
   */
  public long reclaimIdle(Runnable releaseUnused) {
    return reservation.reclaim(releaseUnused);
  }

  /**
   * Closes the tree: reports and force-releases what is still held, then gives every reserved
   * byte back to Spark (and the quota), also what a reclaim left owed to Spark.
   */
  public List<MemoryLeak> close() {
    List<MemoryLeak> leaks = root.close();
    reservation.close();
    spark.close();
    return leaks;
  }

  /**
   * Headroom first, then the two phases over the nodes; what the nodes repaid is headroom by
   * then and goes back too, but is counted once, as the nodes' spill.
   */
  private long spillTree(long size) {
    long freed = reservation.shrink();
    if (freed < size) {
      freed += root.spill(SpillPhase.SHRINK, size - freed);
    }
    if (freed < size) {
      freed += root.spill(SpillPhase.SPILL, size - freed);
    }
    reservation.shrink();
    spilledBytes.add(freed);
    stats.recordSpill(freed);
    return freed;
  }

  /**
   * The ladder's spill step: asks Spark for the shortfall, which spills the task's JVM-side
   * consumers if Spark's pool is short, and hands it straight back; then spills this tree for
   * what those did not free. Returns what both freed (what the JVM consumers freed is heap, room
   * for the quota once a collection has run).
   */
  private long spillForShortfall(long shortfall) {
    long freedBySpark;
    synchronized (taskMemoryManager) {
      long before = taskMemoryManager.getMemoryConsumptionForThisTask();
      long granted = acquireMemory(shortfall);
      freedBySpark = Math.max(0, before + granted - taskMemoryManager.getMemoryConsumptionForThisTask());
      if (granted > 0) {
        freeMemory(granted);
      }
    }
    return freedBySpark >= shortfall ? freedBySpark : freedBySpark + spillTree(shortfall - freedBySpark);
  }

  /**
   * This consumer's account with Spark: where the reservation's blocks end. Bytes given back from
   * a foreign thread are owed and freed, under the TaskMemoryManager's monitor, at the start of
   * the next take, give or settle. With dynamic sizing the bytes register through the
   * {@link SparkExecutionPool} (what the pool has free, nobody spilled), after one byte taken
   * and given back through the TaskMemoryManager, which puts this consumer on its list of
   * consumers to ask for spills (Spark never takes a consumer off that list).
   */
  private final class SparkRegistration implements BlockSource {
    private final AtomicLong owed = new AtomicLong();
    /** On the TaskMemoryManager's list of consumers; guarded by its monitor. */
    private boolean joined;

    @Override
    public Grant take(long min, long max) {
      long granted;
      synchronized (taskMemoryManager) {
        freeLocked(owed.getAndSet(0));
        granted = acquireLocked(max);
        if (granted < min && sparkIsLimit) {
          if (granted > 0) {
            freeMemory(granted);
          }
        } else {
          registered += granted;
        }
      }
      if (granted < min && sparkIsLimit) {
        return Grant.denied(Borrowing.denied("Spark's off-heap execution memory granted "
            + Bytes.format(granted) + " of the " + Bytes.format(min) + " needed by task memory '"
            + root.name() + "', which already held " + Bytes.format(reservation.reservedBytes())
            + " (the static split of spark.memory.offHeap.size, shared by the running tasks)",
            "raise spark.memory.offHeap.size, or set "
                + "spark.gluten.memory.dynamic.offHeap.sizing.enabled=true to size it dynamically"));
      }
      return Grant.of(sparkIsLimit ? granted : max);
    }

    @Override
    public void give(long bytes) {
      synchronized (taskMemoryManager) {
        freeLocked(bytes + owed.getAndSet(0));
      }
    }

    @Override
    public void giveFromAnyThread(long bytes) {
      owed.addAndGet(bytes);
    }

    /** Frees what is owed; returns the bytes Spark got back. */
    long settle() {
      synchronized (taskMemoryManager) {
        return freeLocked(owed.getAndSet(0));
      }
    }

    /**
     * Dynamic sizing, inside a spill Spark asks for a JVM consumer: frees up to {@code wanted}
     * bytes of registration, as far as the budget has room for them on the heap; the native
     * memory stays. Returns the bytes Spark got back.
     */
    long handBack(long wanted) {
      synchronized (taskMemoryManager) {
        long bytes = Math.min(Math.min(wanted, registered), ladder.roomForJvm(wanted));
        return freeLocked(bytes);
      }
    }

    /** Frees what is owed and anything still registered: the task is closing. */
    void close() {
      synchronized (taskMemoryManager) {
        freeLocked(registered + owed.getAndSet(0));
      }
    }

    /** Takes up to {@code max} bytes from Spark; holds the manager's monitor. */
    private long acquireLocked(long max) {
      if (pool == null) {
        return acquireMemory(max);
      }
      if (!joined) {
        long joinByte = acquireMemory(1);
        if (joinByte > 0) {
          freeMemory(joinByte);
        }
        joined = true;
      }
      return pool.takeFree(max);
    }

    /**
     * Frees {@code bytes} (as far as Spark registered them) and returns what was freed; holds the
     * manager's monitor.
     */
    private long freeLocked(long bytes) {
      long toSpark = Math.min(bytes, registered);
      if (toSpark <= 0) {
        return 0;
      }
      if (pool == null) {
        freeMemory(toSpark);
      } else {
        pool.give(toSpark);
      }
      registered -= toSpark;
      return toSpark;
    }
  }
}

package io.dynoffheap.memory;

import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.apache.spark.memory.MemoryConsumer;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.TaskMemoryManager;

/**
 * One Spark {@link MemoryConsumer} per task for native memory, with a tree of named nodes
 * under it ({@link #root()}). Every byte a node borrows goes through here to the task's
 * {@link TaskMemoryManager}, so Spark sees native memory and can ask it to spill.
 *
 * <p>Two ways to count against Spark, chosen at construction:
 * <ul>
 *   <li>{@link #staticSplit}: the off-heap pool (spark.memory.offHeap.size) is the hard limit, as
 *       with Spark's static split today. Consumer mode OFF_HEAP; what Spark does not grant is
 *       denied.
 *   <li>{@link #dynamic}: dynamic off-heap sizing. The hard limit is the executor quota, reached
 *       through the {@link ShortfallLadder}; Spark's execution pool is not a cap. The consumer is
 *       ON_HEAP so that it competes with Spark's JVM-side consumers: a native request first asks
 *       Spark for the bytes, which makes Spark spill JVM consumers of the task when its pool is
 *       short (TaskMemoryManager spills only consumers of the requester's mode), and JVM
 *       consumers short of memory make Spark spill this tree. Whatever Spark grants is held as a
 *       registration; a shortfall there is no denial.
 * </ul>
 *
 * <p>Spill: when Spark calls {@link #spill(long, MemoryConsumer)}, the tree runs the
 * {@link SpillPhase#SHRINK} phase over all nodes, largest first, then {@link SpillPhase#SPILL}
 * while more is wanted. In dynamic mode a spill that Spark asks of this consumer for its own
 * request is refused: that request does not need Spark's room, only the quota's.
 *
 * <p>Locking: Spark updates a consumer's used bytes without a lock of its own and calls
 * {@code spill} while holding the TaskMemoryManager's monitor. Every call into Spark here holds
 * that same monitor, so there is one lock, always taken in the same order, and native threads
 * of the task may borrow at the same time as the task thread.
 */
public final class TreeMemoryConsumer extends MemoryConsumer {
  private final boolean sparkIsLimit;
  private final TreeNode root;
  private final LongAdder spilledBytes = new LongAdder();
  private final MemoryStats stats;
  /** Bytes Spark granted to this consumer; guarded by the TaskMemoryManager's monitor. */
  private long registered;

  private TreeMemoryConsumer(TaskMemoryManager tmm, MemoryMode mode, String name,
      ShortfallLadder ladder, MemoryStats stats) {
    super(tmm, mode);
    this.sparkIsLimit = ladder == null;
    this.stats = stats;
    MemoryTarget spark = new SparkRegistration();
    MemoryTarget limit = sparkIsLimit ? spark : new QuotaTarget(spark, ladder, this::spillForShortfall);
    this.root = new TreeNode(name, "", new Counted(limit), TreeNode.UNLIMITED, Spiller.NONE);
  }

  /** Native memory limited by Spark's off-heap execution pool (the toggle is off). */
  public static TreeMemoryConsumer staticSplit(TaskMemoryManager tmm, String name, MemoryStats stats) {
    return new TreeMemoryConsumer(tmm, MemoryMode.OFF_HEAP, name, null, stats);
  }

  /** Native memory limited by the executor quota through {@code ladder} (the toggle is on). */
  public static TreeMemoryConsumer dynamic(TaskMemoryManager tmm, String name, ShortfallLadder ladder,
      MemoryStats stats) {
    return new TreeMemoryConsumer(tmm, MemoryMode.ON_HEAP, name, ladder, stats);
  }

  /** The root of this task's tree: add named children to it. */
  public TreeNode root() {
    return root;
  }

  /** Bytes freed by spills Spark or the ladder asked for. */
  public long spilledBytes() {
    return spilledBytes.sum();
  }

  @Override
  public long spill(long size, MemoryConsumer trigger) {
    if (trigger == this && !sparkIsLimit) {
      return 0;
    }
    return spillTree(size);
  }

  /** Closes the tree: reports and force-releases what is still held. */
  public List<MemoryLeak> close() {
    return root.close();
  }

  private long spillTree(long size) {
    long freed = root.spill(SpillPhase.SHRINK, size);
    if (freed < size) {
      freed += root.spill(SpillPhase.SPILL, size - freed);
    }
    spilledBytes.add(freed);
    stats.recordSpill(freed);
    return freed;
  }

  /**
   * The ladder's spill step: asks Spark for the shortfall, which spills the task's JVM-side
   * consumers if Spark's pool is short, and hands it straight back; then spills this tree for
   * what the quota still lacks. Returns what the tree freed.
   */
  private long spillForShortfall(long shortfall) {
    synchronized (taskMemoryManager) {
      long granted = acquireMemory(shortfall);
      if (granted > 0) {
        freeMemory(granted);
      }
    }
    return spillTree(shortfall);
  }

  /** Counts the root's grants, denials and held bytes into the executor's stats. */
  private final class Counted implements MemoryTarget {
    private final MemoryTarget below;

    Counted(MemoryTarget below) {
      this.below = below;
    }

    @Override
    public String name() {
      return below.name();
    }

    @Override
    public Borrowing borrow(long bytes) {
      Borrowing borrowing = below.borrow(bytes);
      stats.recordBorrowing(bytes, borrowing);
      return borrowing;
    }

    @Override
    public void repay(long bytes) {
      below.repay(bytes);
      stats.recordRepay(bytes);
    }

    @Override
    public long usedBytes() {
      return below.usedBytes();
    }

    @Override
    public long peakBytes() {
      return below.peakBytes();
    }
  }

  /** This consumer's account with Spark: the last target of the tree's chain. */
  private final class SparkRegistration implements MemoryTarget {
    @Override
    public String name() {
      return "spark";
    }

    @Override
    public Borrowing borrow(long bytes) {
      long granted;
      synchronized (taskMemoryManager) {
        granted = acquireMemory(bytes);
        if (granted < bytes && sparkIsLimit) {
          if (granted > 0) {
            freeMemory(granted);
          }
        } else {
          registered += granted;
        }
      }
      if (granted < bytes && sparkIsLimit) {
        return Borrowing.denied("Spark's off-heap execution memory granted " + Bytes.format(granted)
            + " of " + Bytes.format(bytes) + " to task memory '" + root.name()
            + "', which already held " + Bytes.format(root.usedBytes() - bytes)
            + " (the static split of spark.memory.offHeap.size, shared by the running tasks)",
            "raise spark.memory.offHeap.size, or set "
                + "spark.gluten.memory.dynamic.offHeap.sizing.enabled=true to size it dynamically");
      }
      return Borrowing.granted();
    }

    @Override
    public void repay(long bytes) {
      synchronized (taskMemoryManager) {
        long toSpark = Math.min(bytes, registered);
        if (toSpark > 0) {
          freeMemory(toSpark);
          registered -= toSpark;
        }
      }
    }

    @Override
    public long usedBytes() {
      return getUsed();
    }

    @Override
    public long peakBytes() {
      return root.peakBytes();
    }
  }
}

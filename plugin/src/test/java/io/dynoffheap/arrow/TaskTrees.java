package io.dynoffheap.arrow;

import io.dynoffheap.memory.ExecutorQuota;
import io.dynoffheap.memory.GcCoordinator;
import io.dynoffheap.memory.HeapShrink;
import io.dynoffheap.memory.IdleReclaim;
import io.dynoffheap.memory.MemoryStats;
import io.dynoffheap.memory.ShortfallLadder;
import io.dynoffheap.memory.TreeMemoryConsumer;
import io.dynoffheap.testing.SparkMemory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.memory.TaskMemoryManager;

/**
 * Task memory trees over Spark's real memory managers, for the Arrow tests: one task's
 * TaskMemoryManager on a UnifiedMemoryManager, and the plugin's tree in either mode.
 */
final class TaskTrees {
  static final long MIB = SparkMemory.MIB;
  /** The tree's reservation block: the default of spark.gluten.memory.reservationBlockSize. */
  static final long BLOCK = 8 * MIB;

  private TaskTrees() {}

  /**
   * One task's memory manager; the on-heap pool is about {@code heapMiB} × 0.6, the off-heap pool
   * {@code offHeapMiB} (0: off).
   */
  static TaskMemoryManager taskMemoryManager(long heapMiB, long offHeapMiB) {
    return SparkMemory.taskMemoryManager(heapMiB, offHeapMiB);
  }

  /** The toggle off: Spark's off-heap pool of {@code offHeapMiB} is the limit. */
  static TreeMemoryConsumer staticSplit(long offHeapMiB) {
    return TreeMemoryConsumer.staticSplit(taskMemoryManager(64, offHeapMiB), "task-1", BLOCK,
        new MemoryStats());
  }

  /**
   * The toggle on, with a quota whose committed heap the test sets and a GC that only counts:
   * the shortfall ladder runs for real (spill, GC episodes, retries with 1 ms back-off).
   */
  static final class Dynamic {
    final AtomicLong committedHeap = new AtomicLong();
    final AtomicInteger collections = new AtomicInteger();
    final ExecutorQuota quota;
    final GcCoordinator gc;
    final TaskMemoryManager tmm = taskMemoryManager(64, 0);
    final MemoryStats stats = new MemoryStats();
    final TreeMemoryConsumer consumer;

    Dynamic(long budgetMiB, long committedHeapMiB) {
      this(budgetMiB, committedHeapMiB, -1);
    }

    /** @param heapAfterGcMiB the committed heap after a collection (-1: unchanged) */
    Dynamic(long budgetMiB, long committedHeapMiB, long heapAfterGcMiB) {
      committedHeap.set(committedHeapMiB * MIB);
      quota = new ExecutorQuota(budgetMiB * MIB, committedHeap::get);
      Runnable collection = () -> {
        collections.incrementAndGet();
        if (heapAfterGcMiB >= 0) {
          committedHeap.set(heapAfterGcMiB * MIB);
        }
      };
      gc = new GcCoordinator(collection, HeapShrink.of(false), 0, System::nanoTime);
      consumer = TreeMemoryConsumer.dynamic(tmm, "task-1", BLOCK,
          new ShortfallLadder(quota, new IdleReclaim(), gc, 2, 1), stats);
    }
  }

  static long roundUp(long bytes, long block) {
    return (bytes + block - 1) / block * block;
  }
}

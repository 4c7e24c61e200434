package io.dynoffheap.testing;

import org.apache.spark.SparkConf;
import org.apache.spark.memory.MemoryConsumer;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.TaskMemoryManager;
import org.apache.spark.memory.UnifiedMemoryManager;

/** Real Spark memory managers for tests: Spark's own UnifiedMemoryManager and TaskMemoryManager. */
public final class SparkMemory {
  public static final long MIB = 1L << 20;

  private SparkMemory() {}

  /**
   * A task's memory manager over a unified memory manager whose on-heap pool is about
   * {@code heapMiB} × 0.6 and whose off-heap pool is {@code offHeapMiB} (0 disables off-heap).
   */
  public static TaskMemoryManager taskMemoryManager(long heapMiB, long offHeapMiB) {
    SparkConf conf = new SparkConf(false)
        .set("spark.testing.memory", Long.toString(heapMiB * MIB))
        .set("spark.testing.reservedMemory", "0")
        .set("spark.memory.offHeap.enabled", Boolean.toString(offHeapMiB > 0))
        .set("spark.memory.offHeap.size", Long.toString(offHeapMiB * MIB));
    UnifiedMemoryManager manager = UnifiedMemoryManager.apply(conf, 1);
    return new TaskMemoryManager(manager, 1);
  }

  /** A JVM-side Spark consumer, like a sorter: holds execution memory and spills it all when asked. */
  public static final class JvmConsumer extends MemoryConsumer {
    public long spilled;

    public JvmConsumer(TaskMemoryManager tmm, MemoryMode mode) {
      super(tmm, mode);
    }

    public long take(long bytes) {
      return acquireMemory(bytes);
    }

    @Override
    public long spill(long size, MemoryConsumer trigger) {
      long freed = getUsed();
      if (freed > 0) {
        freeMemory(freed);
        spilled += freed;
      }
      return freed;
    }
  }
}

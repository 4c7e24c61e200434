package io.dynoffheap.arrow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.DynamicOffHeapSizingPlugin;
import io.dynoffheap.ExecutorMemory;
import io.dynoffheap.NativeMemory;
import io.dynoffheap.config.PluginSettings;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.util.TransferPair;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * Arrow vectors built by Spark tasks with task-scoped allocators, the plugin loaded from
 * spark.plugins with dynamic sizing on: the executor tracks their memory while the tasks run and
 * nothing at task end, also when a task forgets to close its vectors.
 */
class ArrowInLocalSparkTest {
  private static final long MIB = 1L << 20;
  private static final int VALUES = 3_000_000;

  @Test
  void tasksBuildArrowVectorsAndTheExecutorIsBackToZeroAtTaskEnd() throws Exception {
    SparkSession.getActiveSession().foreach(s -> {
      s.stop();
      return null;
    });
    try (SparkSession spark = SparkSession.builder().master("local[2]").appName("arrow-local")
        .config("spark.ui.enabled", "false")
        .config("spark.plugins", DynamicOffHeapSizingPlugin.class.getName())
        .config(PluginSettings.DYNAMIC_SIZING.key(), "true")
        .getOrCreate()) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());

      List<Long> held = jsc.parallelize(Arrays.asList(1, 2), 2)
          .map(ArrowInLocalSparkTest::buildSumAndMoveAVector).collect();
      for (long bytes : held) {
        assertTrue(bytes >= VALUES * 8L, "the task's tree held the vector: " + bytes);
      }
      ExecutorMemory executor = NativeMemory.executor();
      assertEquals(0, executor.stats().nativeBytes());
      assertTrue(executor.stats().peakNativeBytes() >= VALUES * 8L);
      assertEquals(0, executor.stats().leaks());
      assertEquals(0, executor.quota().nativeBytes());
      assertEquals(0, executor.openTasks());

      long built = jsc.parallelize(Arrays.asList(1, 2), 2).map(i -> {
        BigIntVector forgotten = new BigIntVector("forgotten",
            ArrowAllocators.forCurrentTask("forgetful"));
        forgotten.allocateNew(VALUES);
        return 1;
      }).count();
      assertEquals(2, built);
      assertEquals(2, executor.stats().leaks(), "each task's open vector was reported");
      assertTrue(executor.stats().leakedBytes() >= 2 * VALUES * 8L);
      assertEquals(0, executor.stats().nativeBytes(), "and released");
      assertEquals(0, executor.quota().nativeBytes());
    }
  }

  /**
   * Fills a vector of {@link #VALUES} longs, moves it to a child allocator, checks its sum and
   * returns the bytes the task's tree held meanwhile. The allocator itself is left to task end.
   */
  private static long buildSumAndMoveAVector(int partition) {
    BufferAllocator allocator = ArrowAllocators.forCurrentTask("vectors-" + partition);
    BufferAllocator downstream = allocator.newChildAllocator("downstream", 0, Long.MAX_VALUE);
    long treeBytes;
    try (BigIntVector vector = new BigIntVector("ids", allocator)) {
      vector.allocateNew(VALUES);
      for (int i = 0; i < VALUES; i++) {
        vector.set(i, i);
      }
      vector.setValueCount(VALUES);
      TransferPair move = vector.getTransferPair(downstream);
      move.transfer();
      treeBytes = NativeMemory.currentTask().root().usedBytes();
      try (BigIntVector moved = (BigIntVector) move.getTo()) {
        long sum = 0;
        for (int i = 0; i < VALUES; i++) {
          sum += moved.get(i);
        }
        if (sum != (long) VALUES * (VALUES - 1) / 2) {
          throw new IllegalStateException("wrong sum " + sum);
        }
      }
    }
    downstream.close();
    return treeBytes;
  }
}

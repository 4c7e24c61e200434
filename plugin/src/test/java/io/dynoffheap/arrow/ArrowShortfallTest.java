package io.dynoffheap.arrow;

import static io.dynoffheap.arrow.TaskTrees.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.memory.TreeMemoryConsumer;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.OutOfMemoryException;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.junit.jupiter.api.Test;

/**
 * What happens when memory is short: the plugin's limit (Spark's off-heap pool, or the executor
 * quota through the shortfall ladder) and Arrow's own limits. Either the buffer gets through
 * after a spill, a GC episode or a retry, or the caller gets Arrow's OutOfMemoryException with
 * the plugin's usage tree, and nothing stays counted.
 */
class ArrowShortfallTest {

  @Test
  void aDenialOfSparksOffHeapPoolIsArrowsOutOfMemoryWithTheUsageTree() {
    TreeMemoryConsumer consumer = TaskTrees.staticSplit(8);
    TaskAllocator task = TaskAllocator.open(consumer.root(), "arrow-op", MIB);
    ArrowBuf held = task.allocator().buffer(4 * MIB);

    OutOfMemoryException error = assertThrows(OutOfMemoryException.class,
        () -> task.allocator().buffer(8 * MIB));
    String message = error.getMessage();
    assertTrue(message.contains("Arrow could not allocate a buffer of 8388608"), message);
    assertTrue(message.contains("Usage tree"), message);
    assertTrue(message.contains("task-1: used 4194304"), message);
    assertTrue(message.contains("  arrow-op: used 4194304"), message);
    assertTrue(message.contains("spark.memory.offHeap.size"), message);
    assertTrue(message.contains("spark.gluten.memory.reservationBlockSize"), message);
    assertInstanceOf(SparkOutOfMemoryError.class, error.getCause());

    assertEquals(4 * MIB, task.allocator().getAllocatedMemory());
    assertEquals(4 * MIB, task.listener().allocatedBytes());
    assertEquals(4 * MIB, consumer.root().usedBytes(), "the denied request left nothing");
    held.close();
    assertEquals(List.of(), task.close());
    assertEquals(List.of(), consumer.close());
    assertEquals(0, consumer.getUsed());
  }

  @Test
  void anIdleReclaimTakesTheUnusedTailAndTheRootsHeadroomBackForTheQuota() {
    TaskTrees.Dynamic tree = new TaskTrees.Dynamic(256, 100);
    TaskAllocator task = TaskAllocator.open(tree.consumer.root(), "arrow-op", MIB);
    ArrowBuf held = task.allocator().buffer(1024);
    assertEquals(TaskTrees.BLOCK, tree.quota.nativeBytes(), "the root took one block");

    long reclaimed = tree.consumer.reclaimIdle(task::releaseUnused);

    assertEquals(TaskTrees.BLOCK - 1024, reclaimed, "the listener's tail and the root's headroom");
    assertEquals(1024, task.listener().reservedBytes());
    assertEquals(1024, tree.quota.nativeBytes());
    ArrowBuf next = task.allocator().buffer(1024);
    assertEquals(2048, task.allocator().getAllocatedMemory(), "the allocator keeps working");
    next.close();
    held.close();
    assertEquals(List.of(), task.close());
    assertEquals(List.of(), tree.consumer.close());
    assertEquals(0, tree.quota.nativeBytes());
    assertEquals(0, tree.tmm.getMemoryConsumptionForThisTask());
  }

  @Test
  void sparkSpillsAnotherArrowAllocatorToMakeRoom() {
    TreeMemoryConsumer consumer = TaskTrees.staticSplit(8);
    AtomicReference<ArrowBuf> cached = new AtomicReference<>();
    TaskAllocator cache = TaskAllocator.open(consumer.root(), "cache", MIB, Long.MAX_VALUE,
        bytes -> closeIfAny(cached));
    TaskAllocator op = TaskAllocator.open(consumer.root(), "op", MIB);
    cached.set(cache.allocator().buffer(4 * MIB));

    ArrowBuf buffer = op.allocator().buffer(8 * MIB);
    assertEquals(null, cached.get(), "the cache was spilled");
    assertEquals(0, cache.node().usedBytes());
    assertEquals(8 * MIB, op.node().usedBytes());
    assertEquals(4 * MIB, consumer.spilledBytes());
    buffer.close();
    assertEquals(List.of(), cache.close());
    assertEquals(List.of(), op.close());
    assertEquals(List.of(), consumer.close());
    assertEquals(0, consumer.getUsed());
  }

  @Test
  void theLadderSpillsArrowBuffersWhenAGcDoesNotHelp() {
    TaskTrees.Dynamic tree = new TaskTrees.Dynamic(64, 32);
    AtomicReference<ArrowBuf> cached = new AtomicReference<>();
    TaskAllocator task = TaskAllocator.open(tree.consumer.root(), "arrow", MIB, Long.MAX_VALUE,
        bytes -> closeIfAny(cached));
    cached.set(task.allocator().buffer(24 * MIB));
    assertEquals(24 * MIB, tree.quota.nativeBytes());

    ArrowBuf buffer = task.allocator().buffer(16 * MIB);
    assertEquals(null, cached.get());
    assertEquals(1, tree.collections.get(), "one GC episode first, which left the heap as it was");
    assertEquals(16 * MIB, tree.quota.nativeBytes());
    assertEquals(16 * MIB, task.node().usedBytes());
    assertEquals(16 * MIB, task.allocator().getAllocatedMemory());
    buffer.close();
    assertEquals(List.of(), task.close());
    assertEquals(List.of(), tree.consumer.close(), "gives the task's headroom back");
    assertEquals(0, tree.quota.nativeBytes());
    assertEquals(0, tree.stats.nativeBytes());
  }

  @Test
  void theLadderCollectsAndRetriesUntilTheBufferFits() {
    TaskTrees.Dynamic tree = new TaskTrees.Dynamic(64, 60, 16);
    TaskAllocator task = TaskAllocator.open(tree.consumer.root(), "arrow", MIB);

    ArrowBuf buffer = task.allocator().buffer(16 * MIB);
    assertEquals(1, tree.collections.get(), "one GC episode let the heap shrink");
    assertEquals(16 * MIB, tree.quota.nativeBytes());
    buffer.close();
    assertEquals(List.of(), task.close());
    assertEquals(List.of(), tree.consumer.close(), "gives the task's headroom back");
    assertEquals(0, tree.quota.nativeBytes());
  }

  @Test
  void anExhaustedQuotaIsArrowsOutOfMemoryWithTheUsageTree() {
    TaskTrees.Dynamic tree = new TaskTrees.Dynamic(64, 60);
    TaskAllocator task = TaskAllocator.open(tree.consumer.root(), "arrow", MIB);
    ArrowBuf small = task.allocator().buffer(1024);

    OutOfMemoryException error = assertThrows(OutOfMemoryException.class,
        () -> task.allocator().buffer(16 * MIB));
    String message = error.getMessage();
    assertTrue(message.contains("Usage tree"), message);
    assertTrue(message.contains("task-1: used 1048576"), message);
    assertTrue(message.contains("GC episode"), message);
    assertTrue(message.contains("spark.executor.memory"), message);
    assertTrue(tree.collections.get() >= 1, "the ladder collected before giving up");

    assertEquals(MIB, tree.quota.nativeBytes(), "the denied request left nothing");
    assertEquals(1024, task.listener().allocatedBytes());
    assertEquals(MIB, task.node().usedBytes());
    small.close();
    assertEquals(List.of(), task.close());
    assertEquals(List.of(), tree.consumer.close(), "gives the task's headroom back");
    assertEquals(0, tree.quota.nativeBytes());
  }

  @Test
  void anArrowLimitIsAnsweredBySpillingAndOneRetry() {
    TreeMemoryConsumer consumer = TaskTrees.staticSplit(64);
    AtomicReference<ArrowBuf> cached = new AtomicReference<>();
    TaskAllocator task = TaskAllocator.open(consumer.root(), "limited", MIB, 4 * MIB,
        bytes -> closeIfAny(cached));
    cached.set(task.allocator().buffer(2 * MIB));

    ArrowBuf buffer = task.allocator().buffer(4 * MIB);
    assertEquals(null, cached.get(), "the spiller made room under Arrow's limit");
    assertEquals(4 * MIB, task.allocator().getAllocatedMemory());
    assertEquals(4 * MIB, task.listener().allocatedBytes());
    assertEquals(4 * MIB, task.node().usedBytes());
    buffer.close();
    assertEquals(0, task.node().usedBytes());
    assertEquals(List.of(), task.close());
  }

  @Test
  void anArrowLimitThatCannotBeMetIsArrowsOutOfMemoryWithTheUsageTree() {
    TreeMemoryConsumer consumer = TaskTrees.staticSplit(64);
    TaskAllocator task = TaskAllocator.open(consumer.root(), "limited", MIB, 4 * MIB,
        ArrowSpiller.NONE);
    ArrowBuf held = task.allocator().buffer(2 * MIB);
    BufferAllocator child = task.allocator().newChildAllocator("small-child", 0, MIB);

    OutOfMemoryException rootLimit = assertThrows(OutOfMemoryException.class,
        () -> task.allocator().buffer(4 * MIB));
    assertTrue(rootLimit.getMessage().contains("limit 4194304"), rootLimit.getMessage());
    assertTrue(rootLimit.getMessage().contains("Usage tree"), rootLimit.getMessage());
    assertTrue(rootLimit.getMessage().contains("limited: used 2097152"), rootLimit.getMessage());
    assertTrue(rootLimit.getOutcomeDetails().isPresent(), "Arrow's details are kept");

    OutOfMemoryException childLimit = assertThrows(OutOfMemoryException.class,
        () -> child.buffer(2 * MIB));
    assertTrue(childLimit.getMessage().contains("'small-child'"), childLimit.getMessage());

    assertEquals(2 * MIB, task.listener().allocatedBytes(), "failed buffers are not counted");
    assertEquals(2 * MIB, task.node().usedBytes());
    child.close();
    held.close();
    assertEquals(0, task.node().usedBytes());
    assertEquals(List.of(), task.close());
  }

  @Test
  void aPreAllocationThatArrowNeverConfirmedIsUncountedByTheThreadsNextCall() {
    TreeMemoryConsumer consumer = TaskTrees.staticSplit(64);
    TaskAllocator task = TaskAllocator.open(consumer.root(), "arrow", MIB);
    TreeReservationListener listener = task.listener();

    listener.onPreAllocation(3 * MIB);   // Arrow's allocation then failed without telling
    assertEquals(3 * MIB, task.node().usedBytes());
    listener.onPreAllocation(1024);
    listener.onAllocation(1024);
    assertEquals(1024, listener.allocatedBytes());
    assertEquals(MIB, task.node().usedBytes());

    listener.onPreAllocation(2 * MIB);   // failed as well; the task ends before the next call
    listener.onRelease(1024);
    assertEquals(2 * MIB, listener.allocatedBytes());
    assertEquals(List.of(), task.close(), "not a leak: Arrow holds nothing");
    assertEquals(0, consumer.root().usedBytes());
    assertEquals(List.of(), consumer.close());
    assertEquals(0, consumer.getUsed());
  }

  private static void closeIfAny(AtomicReference<ArrowBuf> cached) {
    ArrowBuf buffer = cached.getAndSet(null);
    if (buffer != null) {
      buffer.close();
    }
  }
}

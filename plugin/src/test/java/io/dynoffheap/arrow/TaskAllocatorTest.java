package io.dynoffheap.arrow;

import static io.dynoffheap.arrow.TaskTrees.MIB;
import static io.dynoffheap.arrow.TaskTrees.roundUp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.SpillPhase;
import io.dynoffheap.memory.TreeMemoryConsumer;
import io.dynoffheap.memory.TreeNode;
import java.util.List;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.AllocationReservation;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.OwnershipTransferResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Accounting of a task allocator against a real TaskMemoryManager (toggle off: Spark's off-heap
 * pool of 256 MiB), with 1 MiB blocks: the node always holds the Arrow bytes rounded up to whole
 * blocks, across child allocators, transfers and releases, and is back to zero at close.
 */
class TaskAllocatorTest {
  private final TreeMemoryConsumer consumer = TaskTrees.staticSplit(256);
  private final TaskAllocator task = TaskAllocator.open(consumer.root(), "arrow", MIB);
  private final BufferAllocator root = task.allocator();

  @AfterEach
  void treeIsEmptyAtTheEnd() {
    assertEquals(List.of(), task.close());
    assertEquals(0, consumer.root().usedBytes());
    assertEquals(List.of(), consumer.close());
    assertEquals(0, consumer.getUsed(), "everything went back to Spark");
  }

  @Test
  void aBufferNoBudgetCouldHoldIsABadArgumentAndCountsNothing() {
    ArrowBuf kept = root.buffer(1000);
    for (long size : new long[] {Long.MAX_VALUE, (1L << 44) + 1}) {
      IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
          () -> root.buffer(size));
      String message = error.getMessage();
      assertTrue(message.startsWith("Arrow buffer allocation (onPreAllocation(size)) on "
          + "TreeNode(task-1/arrow"), message);
      assertTrue(message.contains("size = " + size + " ("), message);
      assertTrue(message.contains("[1 B, 17592186044416 (16.0 TiB)]"), message);
      assertExact(1024);
      assertEquals(MIB, task.node().usedBytes());
    }
    kept.close();
  }

  @Test
  void wholeBlocksAreReservedBeforeBuffersAndGivenBackOnRelease() {
    ArrowBuf small = root.buffer(1000);
    assertEquals(1024, root.getAllocatedMemory(), "Arrow rounds to a power of two");
    assertExact(1024);
    assertEquals(TaskTrees.BLOCK, consumer.getUsed(), "Spark sees the tree's first block");

    ArrowBuf block = root.buffer(MIB);
    assertExact(MIB + 1024);
    assertEquals(2 * MIB, task.node().usedBytes());

    ArrowBuf large = root.buffer(4 * MIB);
    assertExact(5 * MIB + 1024);
    assertEquals(6 * MIB, task.node().usedBytes());

    large.close();
    assertExact(MIB + 1024);
    small.close();
    assertExact(MIB);
    assertEquals(MIB, task.node().usedBytes(), "exactly one block for one block of buffers");
    block.close();
    assertExact(0);
    assertEquals(0, consumer.root().usedBytes());
    assertEquals(TaskTrees.BLOCK, consumer.getUsed(), "the tree keeps its block until task end");
  }

  @Test
  void childAllocatorsShareTheListenerAndAreCountedOnce() {
    BufferAllocator child = root.newChildAllocator("child", 0, Long.MAX_VALUE);
    BufferAllocator grandchild = child.newChildAllocator("grandchild", 0, 8 * MIB);
    assertSame(task.listener(), child.getListener());
    assertSame(task.listener(), grandchild.getListener());

    ArrowBuf a = root.buffer(512 * 1024);
    ArrowBuf b = child.buffer(512 * 1024);
    ArrowBuf c = grandchild.buffer(2 * MIB);
    assertExact(3 * MIB);
    assertEquals(3 * MIB, task.node().usedBytes());
    assertEquals(3 * MIB, consumer.root().usedBytes());

    c.close();
    grandchild.close();
    b.close();
    child.close();
    assertExact(512 * 1024);
    a.close();
    assertExact(0);
  }

  @Test
  void aChildWithAListenerOfItsOwnIsNotCounted() {
    BufferAllocator foreign =
        root.newChildAllocator("foreign", AllocationListener.NOOP, 0, Long.MAX_VALUE);
    ArrowBuf uncounted = foreign.buffer(MIB);
    assertEquals(MIB, root.getAllocatedMemory(), "Arrow counts it");
    assertEquals(0, task.listener().allocatedBytes(), "the plugin does not (a warning says so)");
    assertEquals(0, task.node().usedBytes());
    uncounted.close();
    foreign.close();
    assertExact(0);
  }

  @Test
  void buffersMovedBetweenChildrenKeepTheTotals() {
    BufferAllocator producer = root.newChildAllocator("producer", 0, Long.MAX_VALUE);
    BufferAllocator consumerSide = root.newChildAllocator("consumer", 0, Long.MAX_VALUE);
    ArrowBuf produced = producer.buffer(2 * MIB);
    ArrowBuf other = producer.buffer(64 * 1024);
    assertExact(2 * MIB + 64 * 1024);

    OwnershipTransferResult moved =
        produced.getReferenceManager().transferOwnership(produced, consumerSide);
    ArrowBuf owned = moved.getTransferredBuffer();
    produced.close();
    assertEquals(2 * MIB, consumerSide.getAllocatedMemory());
    assertEquals(64 * 1024, producer.getAllocatedMemory());
    assertExact(2 * MIB + 64 * 1024);

    other.close();
    producer.close();
    assertExact(2 * MIB);
    assertEquals(2 * MIB, task.node().usedBytes());
    owned.close();
    consumerSide.close();
    assertExact(0);
  }

  @Test
  void shrinkGivesBackTheUnusedTailAndTheNextBufferRealigns() {
    ArrowBuf first = root.buffer(1024);
    assertEquals(MIB, task.node().usedBytes());
    long freed = consumer.root().spill(SpillPhase.SHRINK, MIB);
    assertEquals(MIB - 1024, freed);
    assertEquals(1024, task.node().usedBytes());

    ArrowBuf second = root.buffer(1024);
    assertExact(2048);
    first.close();
    second.close();
    assertExact(0);
  }

  @Test
  @SuppressWarnings({"removal", "deprecation"})
  void anArrowReservationIsCountedWhenAllocatedAndCoveredByTheNextBuffer() {
    AllocationReservation reservation = root.newReservation();
    assertTrue(reservation.add(4096));
    ArrowBuf reserved = reservation.allocateBuffer();
    reservation.close();
    assertEquals(4096, task.listener().allocatedBytes(), "counted in onAllocation");
    assertEquals(0, task.listener().reservedBytes(), "but not borrowed there");

    ArrowBuf next = root.buffer(1024);
    assertExact(4096 + 1024);
    reserved.close();
    next.close();
    assertExact(0);
  }

  @Test
  void leakedBuffersAreReportedWithArrowsReportAndReleased() {
    BufferAllocator child = root.newChildAllocator("forgetful-operator", 0, Long.MAX_VALUE);
    child.buffer(1000);
    assertEquals(MIB, task.node().usedBytes());

    List<MemoryLeak> leaks = task.close();
    assertEquals(1, leaks.size(), leaks.toString());
    MemoryLeak leak = leaks.get(0);
    assertEquals(MIB, leak.bytes(), "the reservation the node held, now released");
    assertTrue(leak.path().startsWith("task-1/arrow"), leak.path());
    assertTrue(leak.path().contains("still had 1024 "), leak.path());
    // Arrow's own report: "Memory was leaked ..." or, in Arrow's debug mode (on with -ea in
    // Arrow 12), "closed with outstanding child allocators"; both show the allocator tree.
    assertTrue(leak.path().contains("Arrow's report: "), leak.path());
    assertTrue(leak.path().contains("Allocator(forgetful-operator)"), leak.path());
    assertEquals(0, task.node().usedBytes());
    assertTrue(task.node().isClosed());

    IllegalStateException late = assertThrows(IllegalStateException.class,
        () -> child.buffer(10));
    assertTrue(late.getMessage().contains("closed at the end of its task"), late.getMessage());
  }

  @Test
  void anAllocatorClosedByItsOwnerWithALeakIsStillReported() {
    ArrowBuf kept = root.buffer(2048);
    assertThrows(IllegalStateException.class, root::close, "Arrow's own leak check");
    List<MemoryLeak> leaks = task.close();
    assertEquals(1, leaks.size(), leaks.toString());
    assertTrue(leaks.get(0).path().contains("2048"), leaks.get(0).path());
    assertEquals(0, consumer.root().usedBytes());
    assertEquals(2048, kept.capacity());
  }

  @Test
  void closingTwiceReportsOnce() {
    root.buffer(1024);
    assertEquals(1, task.close().size());
    assertEquals(List.of(), task.close());
  }

  @Test
  void aSecondAllocatorOfTheTaskHasItsOwnNode() {
    TaskAllocator other = TaskAllocator.open(consumer.root(), "other", MIB);
    ArrowBuf a = root.buffer(1024);
    ArrowBuf b = other.allocator().buffer(2 * MIB);
    assertEquals(MIB, task.node().usedBytes());
    assertEquals(2 * MIB, other.node().usedBytes());
    assertEquals(3 * MIB, consumer.root().usedBytes());
    String tree = consumer.root().usage().render();
    assertTrue(tree.contains("arrow: used 1048576") && tree.contains("other: used 2097152"), tree);
    b.close();
    assertEquals(List.of(), other.close());
    a.close();
  }

  /** The listener counts exactly Arrow's bytes and the node holds them in whole blocks. */
  private void assertExact(long arrowBytes) {
    assertEquals(arrowBytes, root.getAllocatedMemory());
    assertEquals(arrowBytes, task.listener().allocatedBytes());
    assertEquals(roundUp(arrowBytes, MIB), task.listener().reservedBytes());
    assertEquals(roundUp(arrowBytes, MIB), task.node().usedBytes());
    TreeNode taskRoot = consumer.root();
    assertEquals(task.node().usedBytes(), taskRoot.usedBytes());
  }
}

package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.testing.SparkMemory;
import io.dynoffheap.testing.SparkMemory.JvmConsumer;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.apache.spark.memory.TaskMemoryManager;
import org.junit.jupiter.api.Test;

/** The tree against a real TaskMemoryManager, with Spark's off-heap pool as the limit (toggle off). */
class TreeMemoryConsumerTest {
  private static final long BLOCK = 8 * MIB;
  private final TaskMemoryManager tmm = SparkMemory.taskMemoryManager(64, 16);
  private final TreeMemoryConsumer consumer = TreeMemoryConsumer.staticSplit(tmm, "task-1", BLOCK,
      new MemoryStats());
  private final TreeNode root = consumer.root();

  @Test
  void borrowAndRepayReachSpark() {
    TreeNode op = root.newChild("operator");
    TreeNode buffers = op.newChild("buffers");
    assertTrue(buffers.borrow(3 * MIB).isGranted());
    assertEquals(3 * MIB, buffers.usedBytes());
    assertEquals(3 * MIB, op.usedBytes());
    assertEquals(3 * MIB, root.usedBytes());
    assertEquals(BLOCK, consumer.getUsed(), "the root reserved one block from Spark");
    assertEquals(BLOCK, tmm.getMemoryConsumptionForThisTask());

    buffers.repay(MIB);
    assertEquals(2 * MIB, root.usedBytes());
    buffers.repay(2 * MIB);
    assertEquals(0, root.usedBytes());
    assertEquals(BLOCK, tmm.getMemoryConsumptionForThisTask(), "one block is kept as headroom");
    assertEquals(3 * MIB, buffers.peakBytes());
    assertEquals(3 * MIB, root.peakBytes());
    assertEquals(List.of(), consumer.close());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
  }

  @Test
  void capacityAdmitsExactlyUpToItsLimit() {
    TreeNode capped = root.newChild("capped", 4 * MIB, Spiller.NONE);
    assertTrue(capped.borrow(4 * MIB).isGranted());
    Borrowing oneMore = capped.borrow(1);
    assertFalse(oneMore.isGranted());
    assertTrue(oneMore.reason().contains("task-1/capped"), oneMore.reason());
    assertEquals(4 * MIB, capped.usedBytes());
    assertEquals(4 * MIB, root.usedBytes());
  }

  @Test
  void sparkDenialLeavesNothingReservedAndExplainsItself() {
    TreeNode op = root.newChild("operator");
    assertTrue(op.borrow(10 * MIB).isGranted());
    SparkOutOfMemoryError error = assertThrows(SparkOutOfMemoryError.class, () -> op.reserve(10 * MIB));
    assertEquals(10 * MIB, op.usedBytes());
    assertEquals(10 * MIB, root.usedBytes());
    assertEquals(10 * MIB, tmm.getMemoryConsumptionForThisTask());
    assertEquals(10 * MIB, op.peakBytes(), "a denied request never shows in the peak");
    assertEquals(10 * MIB, root.peakBytes());
    String message = error.getMessage();
    assertTrue(message.contains("UNABLE_TO_ACQUIRE_MEMORY"), message);
    assertTrue(message.contains(Long.toString(10 * MIB)), message);
    assertTrue(message.contains("spark.memory.offHeap.size"), message);
    assertTrue(message.contains("task-1: used 10485760"), message);
    assertTrue(message.contains("  operator: used 10485760"), message);
  }

  @Test
  void sparkSpillsTheTreeLargestFirstShrinkBeforeSpill() {
    List<String> calls = new ArrayList<>();
    TreeNode small = root.newChild("small", TreeNode.UNLIMITED, recordingSpiller(calls));
    TreeNode large = root.newChild("large", TreeNode.UNLIMITED, recordingSpiller(calls));
    small.reserve(2 * MIB);
    large.reserve(6 * MIB);

    // Another consumer of the same task and mode needs more than the pool has left.
    JvmConsumer other = new JvmConsumer(tmm, MemoryMode.OFF_HEAP);
    assertEquals(12 * MIB, other.take(12 * MIB));

    assertEquals(List.of("large SHRINK", "small SHRINK", "large SPILL"), calls);
    assertEquals(0, large.usedBytes());
    assertEquals(2 * MIB, small.usedBytes());
    assertEquals(6 * MIB, consumer.spilledBytes());
  }

  @Test
  void spillOfTheRequesterItselfFreesForIt() {
    TreeNode spills = root.newChild("spills", TreeNode.UNLIMITED, (node, phase, bytes) -> {
      long held = node.usedBytes();
      if (phase == SpillPhase.SPILL && held > 0) {
        node.repay(held);
      }
      return phase == SpillPhase.SPILL ? held : 0;
    });
    TreeNode grows = root.newChild("grows");
    spills.reserve(12 * MIB);
    grows.reserve(8 * MIB);
    assertEquals(0, spills.usedBytes());
    assertEquals(8 * MIB, root.usedBytes());
    assertEquals(12 * MIB, consumer.getUsed(), "8 MiB used and 4 MiB left of the new block");
  }

  @Test
  void closeReportsLeaksPerNodeAndForceReleases() {
    TreeNode op = root.newChild("op");
    TreeNode pool = op.newChild("pool");
    pool.reserve(MIB);
    op.reserve(2 * MIB);
    List<MemoryLeak> leaks = consumer.close();
    assertEquals(List.of(new MemoryLeak("task-1/op/pool", MIB), new MemoryLeak("task-1/op", 2 * MIB)),
        leaks);
    assertEquals(0, root.usedBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
    assertTrue(consumer.close().isEmpty(), "a second close finds nothing");
  }

  @Test
  void badInputIsRejectedWithoutCorruptingCounters() {
    TreeNode op = root.newChild("op");
    op.reserve(MIB);
    assertThrows(IllegalArgumentException.class, () -> op.borrow(0));
    assertThrows(IllegalArgumentException.class, () -> op.borrow(-5));
    assertThrows(IllegalArgumentException.class, () -> op.repay(0));
    IllegalStateException tooMuch = assertThrows(IllegalStateException.class, () -> op.repay(MIB + 1));
    assertTrue(tooMuch.getMessage().contains("task-1/op"), tooMuch.getMessage());
    assertEquals(MIB, op.usedBytes());
    assertEquals(MIB, root.usedBytes());
    assertEquals(BLOCK, consumer.getUsed());
    assertThrows(IllegalArgumentException.class, () -> root.newChild(" "));
    assertThrows(IllegalArgumentException.class, () -> root.newChild("zero", 0, Spiller.NONE));

    consumer.close();
    IllegalStateException closed = assertThrows(IllegalStateException.class, () -> op.borrow(1));
    assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
    op.repay(MIB); // a late free after task end: ignored, the bytes were force-released
    assertEquals(0, op.usedBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
  }

  private static Spiller recordingSpiller(List<String> calls) {
    return (node, phase, bytes) -> {
      calls.add(node.name() + " " + phase);
      long held = node.usedBytes();
      if (phase == SpillPhase.SPILL && held > 0) {
        node.repay(held);
        return held;
      }
      return 0;
    };
  }
}

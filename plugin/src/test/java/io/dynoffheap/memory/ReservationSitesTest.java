package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.arrow.TaskAllocator;
import io.dynoffheap.testing.SparkMemory;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.junit.jupiter.api.Test;

/**
 * Debug mode: a task tree whose root records reservation sites reports, for each leaking node,
 * the stacks of the borrows whose bytes it still held, and only those.
 */
class ReservationSitesTest {
  private final TreeMemoryConsumer consumer = TreeMemoryConsumer.staticSplit(
      SparkMemory.taskMemoryManager(64, 256), "task-5", 8 * MIB, new MemoryStats());
  private final TreeNode root = consumer.root();

  @Test
  void aLeakNamesTheStackThatReservedTheBytesStillHeld() {
    root.recordReservationSites();
    TreeNode op = root.newChild("op");
    reserveInSetUp(op, MIB);
    reserveInProbe(op, 3 * MIB);
    op.repay(MIB);

    List<MemoryLeak> leaks = consumer.close();

    assertEquals(1, leaks.size(), leaks.toString());
    MemoryLeak leak = leaks.get(0);
    assertEquals("task-5/op", leak.path());
    assertEquals(3 * MIB, leak.bytes());
    String report = leak.toString();
    assertTrue(report.startsWith("task-5/op held 3145728 (3.0 MiB); reserved at "
        + "(spark.dynoffheap.debug):\n    3145728 (3.0 MiB) by thread '"
        + Thread.currentThread().getName() + "'\n        at " + getClass().getName()
        + ".reserveInProbe("), report);
    assertFalse(report.contains("reserveInSetUp"), "the repaid borrow is gone: " + report);
    assertFalse(report.contains("TreeNode."), "the tree's own frames are left out: " + report);
  }

  @Test
  void aRepayOfAnotherSizeTakesFromTheMostRecentBorrowsFirst() {
    root.recordReservationSites();
    TreeNode op = root.newChild("op");
    reserveInSetUp(op, 2 * MIB);
    reserveInProbe(op, 2 * MIB);
    op.repay(3 * MIB);

    String report = consumer.close().get(0).toString();

    assertTrue(report.contains("1048576 (1.0 MiB) by thread"), report);
    assertTrue(report.contains("reserveInSetUp"), report);
    assertFalse(report.contains("reserveInProbe"), report);
  }

  @Test
  void bytesAChildBorrowedAreRecordedAtTheChildOnly() {
    root.recordReservationSites();
    TreeNode parent = root.newChild("parent");
    TreeNode child = parent.newChild("child");
    reserveInSetUp(parent, MIB);
    reserveInProbe(child, 2 * MIB);

    List<MemoryLeak> leaks = consumer.close();

    assertEquals(2, leaks.size(), leaks.toString());
    assertEquals("task-5/parent/child", leaks.get(0).path());
    assertTrue(leaks.get(0).sites().contains("reserveInProbe"), leaks.toString());
    assertFalse(leaks.get(0).sites().contains("reserveInSetUp"), leaks.toString());
    assertEquals("task-5/parent", leaks.get(1).path());
    assertEquals(MIB, leaks.get(1).bytes());
    assertTrue(leaks.get(1).sites().contains("reserveInSetUp"), leaks.toString());
    assertFalse(leaks.get(1).sites().contains("reserveInProbe"), leaks.toString());
  }

  @Test
  void withoutDebugModeNothingIsRecorded() {
    TreeNode op = root.newChild("op");
    reserveInProbe(op, MIB);
    assertEquals("", op.describeReservationSites());
    assertEquals("task-5/op held 1048576 (1.0 MiB)", consumer.close().get(0).toString());
  }

  @Test
  void anArrowLeakNamesWhereItsBlocksWereReserved() {
    root.recordReservationSites();
    TaskAllocator arrow = TaskAllocator.open(root, "arrow", MIB);
    ArrowBuf forgotten = allocateInProbe(arrow, 1000);

    List<MemoryLeak> leaks = arrow.close();

    assertEquals(1, leaks.size(), leaks.toString());
    assertTrue(leaks.get(0).toString().contains("Memory was leaked"), leaks.toString());
    assertTrue(leaks.get(0).sites().contains(getClass().getName() + ".allocateInProbe("),
        leaks.toString());
    assertTrue(forgotten.capacity() >= 1000);
    assertEquals(List.of(), consumer.close());
  }

  private static void reserveInSetUp(TreeNode node, long bytes) {
    node.reserve(bytes);
  }

  private static void reserveInProbe(TreeNode node, long bytes) {
    node.reserve(bytes);
  }

  private static ArrowBuf allocateInProbe(TaskAllocator arrow, long bytes) {
    return arrow.allocator().buffer(bytes);
  }
}

package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.testing.ConcurrentRun;
import io.dynoffheap.testing.SparkMemory;
import io.dynoffheap.testing.SparkMemory.JvmConsumer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.TaskMemoryManager;
import org.junit.jupiter.api.Test;

/**
 * The task root's block reservation, with dynamic sizing: blocks of 8 MiB taken from the quota
 * and Spark up front, headroom lent without calling either, and given back with hysteresis, in
 * spills and at close.
 */
class TaskReservationTest {
  private static final long BLOCK = 8 * MIB;
  private static final long KIB_64 = 64 << 10;

  private final TaskMemoryManager tmm = SparkMemory.taskMemoryManager(256, 0);
  private final AtomicLong committedHeap = new AtomicLong(100 * MIB);
  private final MemoryStats stats = new MemoryStats();

  private ExecutorQuota quota(long budget) {
    return new ExecutorQuota(budget, committedHeap::get);
  }

  private static ShortfallLadder ladder(ExecutorQuota quota) {
    return new ShortfallLadder(quota, new IdleReclaim(),
        new GcCoordinator(() -> { }, HeapShrink.of(false), 0, System::nanoTime), 0, 0);
  }

  private TreeMemoryConsumer task(ExecutorQuota quota) {
    return TreeMemoryConsumer.dynamic(tmm, "task-1", BLOCK, ladder(quota), stats);
  }

  @Test
  void smallBorrowsTakeOneBlockPer8MiB() {
    ExecutorQuota quota = quota(1024 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    for (int i = 0; i < 128; i++) {
      op.reserve(KIB_64);
    }
    assertEquals(BLOCK, op.usedBytes());
    assertEquals(BLOCK, quota.nativeBytes(), "128 x 64 KiB fill exactly one block");
    assertEquals(1, stats.granted(), "one call to the quota and Spark");
    op.reserve(KIB_64);
    assertEquals(2 * BLOCK, quota.nativeBytes());
    assertEquals(2 * BLOCK, tmm.getMemoryConsumptionForThisTask(), "Spark registers whole blocks");
    assertEquals(2, stats.granted());
    assertEquals(2 * BLOCK, stats.nativeBytes());
    op.repay(op.usedBytes());
    assertEquals(List.of(), task.close());
  }

  @Test
  void repaysKeepUpToTwoBlocksOfHeadroomThenGiveBackAllButOne() {
    ExecutorQuota quota = quota(1024 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    op.reserve(5 * BLOCK);
    op.repay(BLOCK);
    op.repay(BLOCK);
    assertEquals(5 * BLOCK, quota.nativeBytes(), "two unused blocks are kept");
    op.repay(1);
    assertEquals(3 * BLOCK - 1 + BLOCK, quota.nativeBytes(), "above two: all but one block go");
    op.reserve(1);
    op.reserve(BLOCK - 1);
    assertEquals(4 * BLOCK - 1, quota.nativeBytes(), "served from the block kept");
    assertEquals(1, stats.granted(), "no new block was needed");
    op.repay(op.usedBytes());
    assertEquals(BLOCK, quota.nativeBytes());
    assertEquals(List.of(), task.close());
  }

  @Test
  void largeRequestsAreRoundedUpToWholeBlocks() {
    ExecutorQuota quota = quota(1024 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    op.reserve(20 * MIB);
    assertEquals(24 * MIB, quota.nativeBytes());
    assertEquals(24 * MIB, task.reservedBytes());
    op.reserve(5 * MIB);
    assertEquals(32 * MIB, quota.nativeBytes(), "4 MiB of headroom, 1 MiB more rounded to a block");
    op.repay(25 * MIB);
    assertEquals(List.of(), task.close());
    assertEquals(0, quota.nativeBytes());
  }

  @Test
  void nearTheBudgetExactlyTheRequestIsReservedAndOneByteMoreIsNot() {
    ExecutorQuota quota = quota(100 * MIB + 5 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    assertFalse(op.borrow(5 * MIB + 1).isGranted());
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());

    op.reserve(3 * MIB);
    assertEquals(3 * MIB, quota.nativeBytes(), "a whole block does not fit: exactly the request");
    assertFalse(op.borrow(2 * MIB + 1).isGranted());
    op.reserve(2 * MIB);
    assertEquals(5 * MIB, quota.nativeBytes());
    assertEquals(0, quota.room());
    op.repay(5 * MIB);
    assertEquals(List.of(), task.close());
  }

  @Test
  void aDenialGivesBackTheHeadroomTheRequestTook() {
    ExecutorQuota quota = quota(100 * MIB + 12 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    op.reserve(MIB);
    assertEquals(BLOCK, quota.nativeBytes());
    Borrowing denied = op.borrow(12 * MIB);
    assertFalse(denied.isGranted());
    assertTrue(denied.reason().contains("could not admit"), denied.reason());
    assertEquals(MIB, op.usedBytes());
    assertEquals(MIB, quota.nativeBytes(), "the 7 MiB of headroom the request took went back");
    assertEquals(MIB, tmm.getMemoryConsumptionForThisTask());
    assertEquals(MIB, task.reservedBytes());
    assertEquals(1, stats.denied());
    op.repay(MIB);
    assertEquals(List.of(), task.close());
  }

  @Test
  void sparkSpillGivesBackTheHeadroomFirst() {
    ExecutorQuota quota = quota(1024 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    op.reserve(3 * MIB);
    committedHeap.set(1024 * MIB - quota.nativeBytes()); // no room to hand registration back
    JvmConsumer sorter = new JvmConsumer(tmm, MemoryMode.ON_HEAP);
    long freed = task.spill(MIB, sorter);
    assertEquals(5 * MIB, freed, "the unused part of the block, before any node is asked");
    assertEquals(3 * MIB, op.usedBytes());
    assertEquals(3 * MIB, quota.nativeBytes());
    assertEquals(3 * MIB, tmm.getMemoryConsumptionForThisTask());
    assertEquals(5 * MIB, task.spilledBytes());
    op.repay(3 * MIB);
    assertEquals(List.of(), task.close());
  }

  @Test
  void closeGivesBackEveryReservedByteAndStillReportsLeaks() {
    ExecutorQuota quota = quota(1024 * MIB);
    TreeMemoryConsumer task = task(quota);
    TreeNode op = task.root().newChild("op");
    op.reserve(3 * MIB);
    op.reserve(KIB_64);
    String tree = task.root().usage().render();
    assertTrue(tree.startsWith("task-1: used " + (3 * MIB + KIB_64)), tree);
    assertTrue(tree.contains("reserved " + BLOCK), tree);
    assertEquals(List.of(new MemoryLeak("task-1/op", 3 * MIB + KIB_64)), task.close());
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, stats.nativeBytes());
    assertEquals(0, task.reservedBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
  }

  /**
   * 4 tasks with 2 threads each reserve and repay random sizes under one small quota: the quota
   * is never exceeded, blocks fall back to exact sizes near the budget, and after the tasks close
   * every counter is back at 0.
   */
  @Test
  void concurrentTasksNeverOvershootAndEndAtZero() throws Exception {
    long budget = 100 * MIB + 48 * MIB;
    ExecutorQuota quota = quota(budget);
    ShortfallLadder ladder = ladder(quota);
    int tasks = 4;
    int threadsPerTask = 2;
    int operations = 20_000;
    List<TreeMemoryConsumer> consumers = new ArrayList<>();
    for (int t = 0; t < tasks; t++) {
      consumers.add(TreeMemoryConsumer.dynamic(SparkMemory.taskMemoryManager(256, 0),
          "task-" + t, BLOCK, ladder, stats));
    }
    List<TreeNode> nodes = new ArrayList<>();
    for (int t = 0; t < tasks * threadsPerTask; t++) {
      nodes.add(consumers.get(t % tasks).root().newChild("worker-" + t));
    }
    AtomicLong granted = new AtomicLong();
    AtomicLong denied = new AtomicLong();
    long worstObserved = ConcurrentRun.maxObserved(nodes.size(), worker -> {
      RandomChurn.Borrows borrows =
          RandomChurn.run(nodes.get(worker), worker, operations, 2 * MIB, 0.5);
      granted.addAndGet(borrows.granted());
      denied.addAndGet(borrows.denied());
    }, quota::nativeBytes);

    assertTrue(granted.get() > tasks * threadsPerTask * operations / 10, "must exercise grants");
    assertTrue(denied.get() > 0, "the quota must be contended");
    long room = budget - committedHeap.get();
    assertTrue(worstObserved <= room, "observed " + worstObserved + " > " + room);
    assertTrue(quota.peakNativeBytes() <= room, "peak " + quota.peakNativeBytes());
    for (TreeMemoryConsumer consumer : consumers) {
      assertEquals(0, consumer.root().usedBytes());
      assertEquals(List.of(), consumer.close());
      assertEquals(0, consumer.getUsed());
    }
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, stats.nativeBytes());
  }

  /**
   * One task's threads borrow and repay across block boundaries (so give-backs above two blocks
   * happen all the time) while other threads spill the task's headroom and reclaim it for the
   * quota, and the task's tree closes at the end: no byte is given back twice (the quota would
   * throw), none stays reserved, and the quota is never exceeded.
   */
  @Test
  void giveBacksRacingBorrowsOfOneTaskNeverCountAByteTwice() throws Exception {
    long budget = 100 * MIB + 64 * MIB;
    ExecutorQuota quota = quota(budget);
    TreeMemoryConsumer task = task(quota);
    JvmConsumer other = new JvmConsumer(tmm, MemoryMode.ON_HEAP);
    int borrowers = 4;
    int operations = 20_000;
    AtomicLong granted = new AtomicLong();
    AtomicLong givenBackByOthers = new AtomicLong();
    List<TreeNode> nodes = new ArrayList<>();
    for (int b = 0; b < borrowers; b++) {
      nodes.add(task.root().newChild("worker-" + b));
    }
    AtomicInteger running = new AtomicInteger(borrowers);
    long worstObserved = ConcurrentRun.maxObserved(borrowers + 2, worker -> {
      if (worker >= borrowers) {
        // A spiller (as Spark would, for another consumer) or a reclaimer (another task's sweep).
        while (running.get() > 0) {
          givenBackByOthers.addAndGet(worker == borrowers
              ? task.spill(1, other)
              : task.reclaimIdle(() -> { }));
        }
        return;
      }
      try {
        granted.addAndGet(
            RandomChurn.run(nodes.get(worker), worker, operations, 3 * BLOCK, 0.5).granted());
      } finally {
        running.decrementAndGet();
      }
    }, quota::nativeBytes);

    assertTrue(granted.get() > borrowers * operations / 10, "must exercise grants");
    assertTrue(givenBackByOthers.get() > 0, "spills and reclaims must have taken headroom");
    long room = budget - committedHeap.get();
    assertTrue(worstObserved <= room, "observed " + worstObserved + " > " + room);
    assertEquals(0, task.root().usedBytes());
    assertEquals(List.of(), task.close());
    assertEquals(0, task.reservedBytes());
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, stats.nativeBytes());
    assertEquals(0, task.getUsed());
  }
}

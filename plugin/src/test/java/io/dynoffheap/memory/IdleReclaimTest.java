package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.testing.ConcurrentRun;
import io.dynoffheap.testing.SparkMemory;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.apache.spark.memory.TaskMemoryManager;
import org.junit.jupiter.api.Test;

/**
 * The first rung of the ladder: idle reservations of every running task go back to the quota,
 * without spilling and without any GC, before the short task is asked to spill. Each task has its
 * own real TaskMemoryManager; the quota is the executor's, shared.
 */
class IdleReclaimTest {
  private static final long BUDGET = 256 * MIB;
  private static final long BLOCK = 8 * MIB;

  private final AtomicLong committedHeap = new AtomicLong(100 * MIB);
  private final AtomicInteger collections = new AtomicInteger();
  private final ExecutorQuota quota = new ExecutorQuota(BUDGET, committedHeap::get);
  private final IdleReclaim idle = new IdleReclaim();
  private final ShortfallLadder ladder = new ShortfallLadder(quota, idle,
      new GcCoordinator(collections::incrementAndGet, HeapShrink.of(false), 0, System::nanoTime),
      2, 1);
  private final MemoryStats stats = new MemoryStats();

  /** A task registered for idle reclaim, as the executor registers each open task. */
  private TreeMemoryConsumer task(TaskMemoryManager tmm, String name) {
    TreeMemoryConsumer consumer = TreeMemoryConsumer.dynamic(tmm, name, BLOCK, ladder, stats);
    idle.register(() -> consumer.reclaimIdle(() -> { }));
    return consumer;
  }

  /** Leaves {@code task} holding two blocks of headroom and using nothing. */
  private static void leaveTwoIdleBlocks(TreeMemoryConsumer task) {
    TreeNode op = task.root().newChild("op");
    op.reserve(2 * BLOCK);
    op.repay(2 * BLOCK);
    assertEquals(2 * BLOCK, task.reservedBytes());
  }

  @Test
  void anotherTasksIdleHeadroomLetsTheRequestInWithoutSpillOrGc() {
    TaskMemoryManager tmmA = SparkMemory.taskMemoryManager(256, 0);
    TreeMemoryConsumer a = task(tmmA, "task-a");
    leaveTwoIdleBlocks(a);
    TreeMemoryConsumer b = task(SparkMemory.taskMemoryManager(256, 0), "task-b");
    TreeNode op = b.root().newChild("op");

    op.reserve(150 * MIB); // room 156 MiB − A's 16 MiB idle = 140 MiB: fits only with A's blocks

    assertEquals(150 * MIB, op.usedBytes());
    assertEquals(0, collections.get(), "no GC episode");
    assertEquals(0, b.spilledBytes(), "the short task did not spill");
    assertEquals(0, a.spilledBytes(), "the idle task did not spill");
    assertEquals(1, idle.completedSweeps());
    assertEquals(2 * BLOCK, idle.reclaimedBytes());
    assertEquals(0, a.reservedBytes());
    assertEquals(152 * MIB, quota.nativeBytes(), "B's 150 MiB rounded up to whole blocks");
    assertEquals(2 * BLOCK, tmmA.getMemoryConsumptionForThisTask(),
        "A's Spark registration is owed until A's own thread calls Spark");

    TreeNode op2 = a.root().newChild("op2");
    op2.reserve(MIB);
    assertEquals(MIB, tmmA.getMemoryConsumptionForThisTask(), "A's next block settled the debt");
    op2.repay(MIB);
    op.repay(150 * MIB);
    closeAll(List.of(a, b));
  }

  @Test
  void closeSettlesWhatAReclaimLeftOwedToSpark() {
    TaskMemoryManager tmm = SparkMemory.taskMemoryManager(256, 0);
    TreeMemoryConsumer a = task(tmm, "task-a");
    leaveTwoIdleBlocks(a);
    assertEquals(new IdleReclaim.Sweep(2 * BLOCK, 1), idle.reclaim());
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, stats.nativeBytes());
    assertEquals(2 * BLOCK, tmm.getMemoryConsumptionForThisTask());
    assertEquals(List.of(), a.close());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
    assertEquals(0, a.reclaimIdle(() -> { }), "a closed task has nothing to reclaim");
  }

  @Test
  void aSparkSpillOfTheIdleTaskFreesWhatIsOwed() {
    TaskMemoryManager tmm = SparkMemory.taskMemoryManager(64, 0);
    TreeMemoryConsumer a = task(tmm, "task-a");
    leaveTwoIdleBlocks(a);
    idle.reclaim();
    SparkMemory.JvmConsumer sorter = new SparkMemory.JvmConsumer(tmm, MemoryMode.ON_HEAP);
    assertEquals(38 * MIB, sorter.take(38 * MIB), "Spark's pool of 38 MiB, once A paid its debt");
    assertEquals(0, a.getUsed());
    sorter.spill(0, sorter);
    closeAll(List.of(a));
  }

  @Test
  void theDenialSaysWhatWasReclaimedAndFromHowManyTasks() {
    TreeMemoryConsumer a = task(SparkMemory.taskMemoryManager(256, 0), "task-a");
    leaveTwoIdleBlocks(a);
    TreeMemoryConsumer b = task(SparkMemory.taskMemoryManager(256, 0), "task-b");
    SparkOutOfMemoryError error = assertThrows(SparkOutOfMemoryError.class,
        () -> b.root().newChild("op").reserve(200 * MIB));
    String message = error.getMessage();
    assertTrue(message.contains("reclaimed " + Bytes.format(2 * BLOCK) + " idle from 1 task(s)"),
        message);
    assertEquals(2 * BLOCK, idle.reclaimedBytes());
    closeAll(List.of(a, b));
  }

  @Test
  void threadsShortAtOnceShareSweeps() throws Exception {
    int threads = 8;
    List<Thread> workers = new ArrayList<>();
    AtomicInteger sweeps = new AtomicInteger();
    idle.register(() -> {
      if (sweeps.incrementAndGet() == 1) {
        awaitOthersWaiting(workers); // the first sweep lasts until every other thread has asked
      }
      return MIB;
    });
    AtomicLong served = new AtomicLong();
    for (int t = 0; t < threads; t++) {
      workers.add(new Thread(() -> served.addAndGet(idle.reclaim().bytes())));
    }
    workers.forEach(Thread::start);
    for (Thread worker : workers) {
      worker.join();
    }
    // The first sweep, then one more for the threads that asked while it ran.
    assertTrue(sweeps.get() <= 2, sweeps.get() + " sweeps for " + threads + " threads");
    assertEquals(sweeps.get(), idle.completedSweeps());
    assertEquals(threads * MIB, served.get(), "every thread got the figures of a sweep");
  }

  /** Waits until every thread of {@code workers} but the calling one waits inside a reclaim. */
  private static void awaitOthersWaiting(List<Thread> workers) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline && !workers.stream()
        .filter(w -> w != Thread.currentThread())
        .allMatch(w -> w.getState() == Thread.State.WAITING)) {
      Thread.onSpinWait();
    }
  }

  /**
   * Tasks open, borrow and repay from several threads, and close, on a tight quota while every
   * shortfall sweeps the others' idle memory: the quota is never exceeded, and after the tasks
   * close the quota, the statistics and every TaskMemoryManager are back at 0.
   */
  @Test
  void concurrentTasksWithSweepsNeverOvershootAndEndAtZero() throws Exception {
    committedHeap.set(BUDGET - 48 * MIB);
    int slots = 6;
    int lifetimes = 8;
    int operations = 2_000;
    AtomicLong granted = new AtomicLong();
    CyclicBarrier allOpen = new CyclicBarrier(slots);
    long worst = ConcurrentRun.maxObserved(slots, slot -> {
      SplittableRandom random = new SplittableRandom(slot);
      for (int life = 0; life < lifetimes; life++) {
        TaskMemoryManager tmm = SparkMemory.taskMemoryManager(256, 0);
        TreeMemoryConsumer task = TreeMemoryConsumer.dynamic(tmm, "task-" + slot + "." + life,
            BLOCK, ladder, stats);
        IdleMemory registration = () -> task.reclaimIdle(() -> { });
        idle.register(registration);
        TreeNode node = task.root().newChild("op");
        // Every task leaves two idle blocks before any goes on: 6 x 16 MiB do not fit in the
        // 48 MiB of room, so the tasks overlap and sweep each other however they are scheduled.
        if (node.borrow(2 * BLOCK).isGranted()) {
          node.repay(2 * BLOCK);
        }
        allOpen.await(1, TimeUnit.MINUTES);
        granted.addAndGet(
            RandomChurn.run(node, random.nextLong(), operations, 3 * MIB, 2 / 3.0).granted());
        idle.unregister(registration);
        assertEquals(List.of(), task.close());
        assertEquals(0, tmm.getMemoryConsumptionForThisTask());
      }
    }, quota::nativeBytes);

    assertTrue(granted.get() > slots * lifetimes * operations / 10, "must exercise grants");
    assertTrue(idle.reclaimedBytes() > 0, "the quota must be short enough to sweep");
    long room = BUDGET - committedHeap.get();
    assertTrue(worst <= room, "observed " + worst + " > " + room);
    assertTrue(quota.peakNativeBytes() <= room, "peak " + quota.peakNativeBytes());
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, stats.nativeBytes());
  }

  /** Closes tasks whose nodes hold nothing any more. */
  private void closeAll(List<TreeMemoryConsumer> tasks) {
    for (TreeMemoryConsumer task : tasks) {
      assertEquals(List.of(), task.close());
      assertEquals(0, task.getUsed());
    }
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, stats.nativeBytes());
  }
}

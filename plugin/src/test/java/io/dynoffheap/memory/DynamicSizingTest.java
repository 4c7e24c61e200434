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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.apache.spark.memory.TaskMemoryManager;
import org.junit.jupiter.api.Test;

/**
 * The tree with the toggle on: Spark's on-heap pool (64 MiB × 0.6 here) is where native memory
 * registers, the executor quota is the limit, and the shortfall ladder runs when it is short.
 */
class DynamicSizingTest {
  private static final long BUDGET = 256 * MIB;
  private static final long BLOCK = 8 * MIB;

  private final TaskMemoryManager tmm = SparkMemory.taskMemoryManager(64, 0);
  private final AtomicLong committedHeap = new AtomicLong(100 * MIB);
  private final AtomicInteger collections = new AtomicInteger();
  private final ExecutorQuota quota = new ExecutorQuota(BUDGET, committedHeap::get);
  private final GcCoordinator gc = new GcCoordinator(collections::incrementAndGet,
      HeapShrink.of(false), TimeUnit.HOURS.toNanos(1), System::nanoTime);
  private final ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, 2, 1);
  private final TreeMemoryConsumer consumer = TreeMemoryConsumer.dynamic(tmm, "task-7", BLOCK, ladder,
      new MemoryStats());
  private final TreeNode root = consumer.root();

  @Test
  void nativeMemoryIsNotCappedBySparksPool() {
    TreeNode op = root.newChild("op");
    op.reserve(120 * MIB);
    assertEquals(120 * MIB, op.usedBytes());
    assertEquals(120 * MIB, quota.nativeBytes());
    assertTrue(consumer.getUsed() < 40 * MIB, "Spark holds only what its pool had");
    assertEquals(0, collections.get());
    op.repay(120 * MIB);
    assertEquals(BLOCK, quota.nativeBytes(), "one block is kept as headroom");
    assertEquals(List.of(), consumer.close());
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
  }

  @Test
  void aNativeBlockTheQuotaAdmitsMakesNoSparkConsumerSpill() {
    JvmConsumer sorter = new JvmConsumer(tmm, MemoryMode.ON_HEAP);
    assertEquals(30 * MIB, sorter.take(30 * MIB));
    root.newChild("op").reserve(20 * MIB);
    assertEquals(0, sorter.spilled, "the quota had room: nothing of Spark's was spilled");
    assertEquals(24 * MIB, quota.nativeBytes(), "20 MiB rounded up to whole blocks");
    assertEquals(tmm.getMemoryConsumptionForThisTask() - 30 * MIB, consumer.getUsed(),
        "registered: what the pool had free");
    assertTrue(consumer.getUsed() > 0 && consumer.getUsed() < 24 * MIB, "" + consumer.getUsed());
    assertEquals(0, collections.get());
  }

  @Test
  void whenTheBudgetIsShortSparkSpillsJvmConsumersAndOneMoreGcTurnsThatIntoRoom() {
    JvmConsumer sorter = new JvmConsumer(tmm, MemoryMode.ON_HEAP);
    assertEquals(30 * MIB, sorter.take(30 * MIB));
    committedHeap.set(BUDGET - 10 * MIB); // the sorter's pages are part of this heap
    AtomicInteger episodes = new AtomicInteger();
    GcCoordinator heapFollowsSorter = new GcCoordinator(() -> {
      episodes.incrementAndGet();
      committedHeap.set(BUDGET - 10 * MIB - sorter.spilled);
    }, HeapShrink.of(false), TimeUnit.HOURS.toNanos(1), System::nanoTime);
    TreeMemoryConsumer task = TreeMemoryConsumer.dynamic(tmm, "task-9", BLOCK,
        new ShortfallLadder(quota, new IdleReclaim(), heapFollowsSorter, 2, 1), new MemoryStats());
    task.root().newChild("op").reserve(20 * MIB);
    assertEquals(30 * MIB, sorter.spilled, "the ladder's spill step made Spark spill the sorter");
    assertEquals(2, episodes.get(), "one before the spill, which freed nothing, and one after it, "
        + "which the interval did not hold back");
    assertEquals(0, task.spilledBytes(), "the native tree itself spilled nothing");
    assertEquals(24 * MIB, quota.nativeBytes());
  }

  @Test
  void aJvmConsumerShortOfPoolGetsRegistrationBackWhileTheBudgetHasRoom() {
    AtomicInteger spillCalls = new AtomicInteger();
    TreeNode pool = root.newChild("pool", TreeNode.UNLIMITED, spillAll(spillCalls));
    pool.reserve(30 * MIB);
    JvmConsumer sorter = new JvmConsumer(tmm, MemoryMode.ON_HEAP);
    assertEquals(30 * MIB, sorter.take(30 * MIB));
    assertEquals(0, spillCalls.get(), "no native memory was spilled");
    assertEquals(30 * MIB, pool.usedBytes());
    assertEquals(32 * MIB, quota.nativeBytes(), "native memory stays counted by the quota");
    assertEquals(0, consumer.spilledBytes());
    assertTrue(consumer.getUsed() < 10 * MIB, "registration handed back: " + consumer.getUsed());
    assertEquals(0, collections.get());
    pool.repay(30 * MIB);
    assertEquals(List.of(), consumer.close());
    assertEquals(0, consumer.getUsed());
    assertEquals(30 * MIB, tmm.getMemoryConsumptionForThisTask(), "only the sorter's");
  }

  @Test
  void aJvmConsumerShortOfPoolWhenTheBudgetIsShortMakesSparkSpillTheNativeTree() {
    AtomicInteger spillCalls = new AtomicInteger();
    TreeNode pool = root.newChild("pool", TreeNode.UNLIMITED, spillAll(spillCalls));
    pool.reserve(30 * MIB);
    committedHeap.set(BUDGET - quota.nativeBytes());
    JvmConsumer sorter = new JvmConsumer(tmm, MemoryMode.ON_HEAP);
    assertEquals(30 * MIB, sorter.take(30 * MIB));
    assertEquals(1, collections.get(), "one GC episode first, which did not help");
    assertEquals(2, spillCalls.get(), "shrink, then spill");
    assertEquals(0, pool.usedBytes());
    assertEquals(0, quota.nativeBytes());
    assertEquals(32 * MIB, consumer.spilledBytes(), "the pool's 30 MiB and 2 MiB of headroom");
  }

  @Test
  void whenAGcDoesNotHelpTheTaskSpillsItsOwnNodes() {
    TreeNode cache = root.newChild("cache", TreeNode.UNLIMITED, (node, phase, bytes) -> {
      if (phase != SpillPhase.SPILL) {
        return 0;
      }
      node.repay(bytes);
      return bytes;
    });
    cache.reserve(150 * MIB);
    root.newChild("op").reserve(20 * MIB); // 100 heap + 150 + 20 > 256: 14 MiB must go
    assertEquals(136 * MIB, cache.usedBytes());
    assertEquals(BUDGET, committedHeap.get() + quota.nativeBytes());
    assertEquals(1, collections.get(), "the GC episode came before the spill");
  }

  @Test
  void aGcEpisodeThatShrinksTheHeapLetsTheRequestIn() {
    GcCoordinator shrinking = new GcCoordinator(() -> committedHeap.set(40 * MIB),
        HeapShrink.of(false), 0, System::nanoTime);
    TreeMemoryConsumer task = TreeMemoryConsumer.dynamic(tmm, "task-8", BLOCK,
        new ShortfallLadder(quota, new IdleReclaim(), shrinking, 2, 1), new MemoryStats());
    task.root().newChild("op").reserve(200 * MIB);
    assertEquals(1, shrinking.completedEpisodes());
    assertEquals(200 * MIB, quota.nativeBytes());
  }

  @Test
  void aRequestThatCannotFitFailsCleanlyWithTheWholeStory() {
    TreeNode op = root.newChild("native-sort");
    op.reserve(100 * MIB);
    long sparkBefore = tmm.getMemoryConsumptionForThisTask();

    SparkOutOfMemoryError error = assertThrows(SparkOutOfMemoryError.class, () -> op.reserve(64 * MIB));

    String message = error.getMessage();
    assertTrue(message.contains("UNABLE_TO_ACQUIRE_MEMORY"), message);
    assertTrue(message.contains("acquire " + 64 * MIB + " bytes"), message);
    assertTrue(message.contains("budget " + BUDGET), message);
    assertTrue(message.contains("committed heap " + 100 * MIB), message);
    assertTrue(message.contains("tracked native " + 104 * MIB), "whole blocks: " + message);
    assertTrue(message.contains("1 GC episode(s)"), message);
    assertTrue(message.contains("2 retries"), message);
    assertTrue(message.contains("task-7: used " + 100 * MIB), message);
    assertTrue(message.contains("  native-sort: used " + 100 * MIB), message);
    assertTrue(message.contains("spark.executor.memory"), message);
    assertEquals(100 * MIB, op.usedBytes());
    assertEquals(100 * MIB, quota.nativeBytes(), "the 4 MiB of headroom the request took went back");
    assertEquals(sparkBefore - 4 * MIB, tmm.getMemoryConsumptionForThisTask());
    assertEquals(1, collections.get(), "retries share the interval-limited episode");
  }

  @Test
  void eightThreadsShortTogetherCauseOneGcEpisode() throws Exception {
    committedHeap.set(BUDGET - MIB);
    CountDownLatch allShort = new CountDownLatch(8);
    List<Thread> threads = new ArrayList<>();
    // The episode lasts until the 7 other threads wait for it (the GC step comes before the spill).
    GcCoordinator slow = new GcCoordinator(() -> {
      collections.incrementAndGet();
      awaitOthersWaiting(threads, 30);
    }, HeapShrink.of(false), TimeUnit.HOURS.toNanos(1), System::nanoTime);
    ShortfallLadder shared = new ShortfallLadder(quota, new IdleReclaim(), slow, 3, 1);
    AtomicInteger denied = new AtomicInteger();
    for (int t = 0; t < 8; t++) {
      threads.add(new Thread(() -> {
        Grant grant = shared.admit(2 * MIB, 2 * MIB, wanted -> {
          allShort.countDown();
          return 0;
        });
        if (!grant.isGranted()) {
          denied.incrementAndGet();
        }
      }));
    }
    for (Thread thread : threads) {
      thread.start();
    }
    for (Thread thread : threads) {
      thread.join();
    }
    assertEquals(0, allShort.getCount());
    assertEquals(8, denied.get());
    assertEquals(1, slow.completedEpisodes());
    assertEquals(1, collections.get());
    assertEquals(0, quota.nativeBytes());
  }

  @Test
  void deniedRequestsLeaveNoRegistrationWithSpark() {
    committedHeap.set(BUDGET);
    Borrowing borrowing = root.newChild("op").borrow(MIB);
    assertFalse(borrowing.isGranted());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
    assertEquals(0, consumer.getUsed());
  }

  private static Spiller spillAll(AtomicInteger calls) {
    return (node, phase, bytes) -> {
      calls.incrementAndGet();
      long held = node.usedBytes();
      if (phase == SpillPhase.SPILL && held > 0) {
        node.repay(held);
        return held;
      }
      return 0;
    };
  }

  /** Waits until every thread of {@code threads} but the caller is blocked (at most the limit). */
  private static void awaitOthersWaiting(List<Thread> threads, int seconds) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline && threads.stream()
        .filter(thread -> thread != Thread.currentThread())
        .anyMatch(thread -> thread.getState() != Thread.State.WAITING)) {
      Thread.onSpinWait();
    }
  }
}

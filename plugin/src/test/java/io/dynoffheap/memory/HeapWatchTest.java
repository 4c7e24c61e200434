package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeapWatchTest {
  private static final long BUDGET = 1024 * MIB;
  private final AtomicLong committedHeap = new AtomicLong(100 * MIB);
  private final ExecutorQuota quota = new ExecutorQuota(BUDGET, committedHeap::get);
  private final AtomicInteger collections = new AtomicInteger();
  private final GcCoordinator gc = new GcCoordinator(collections::incrementAndGet,
      HeapShrink.of(false), TimeUnit.HOURS.toNanos(1), System::nanoTime);

  @Test
  void belowTheThresholdACollectionAsksForNothing() {
    try (HeapWatch watch = HeapWatch.start(quota, gc)) {
      assertTrue(quota.tryAdmit(700 * MIB));
      assertFalse(watch.check(), "100 + 700 MiB of 1 GiB: below 90 %");
      assertEquals(0, watch.requestedEpisodes());
    }
  }

  @Test
  void aHeapNearTheBudgetWithLittleNativeMemoryIsLeftToTheJvm() {
    try (HeapWatch watch = HeapWatch.start(quota, gc)) {
      committedHeap.set(BUDGET - 50 * MIB);
      assertTrue(quota.tryAdmit(50 * MIB)); // heap + native = the budget, native under 10 %
      assertFalse(watch.check(), "a JVM-only stage: the heap may use its whole maximum");
    }
  }

  @Test
  void aRealCollectionThatLeavesHeapAndNativeOverTheThresholdStartsOneEpisode() throws Exception {
    try (HeapWatch watch = HeapWatch.start(quota, gc)) {
      assertTrue(quota.tryAdmit(700 * MIB));
      committedHeap.set(300 * MIB); // the heap grew after the native memory was admitted
      System.gc(); // the JVM reports its end; the watch asks for an episode on its own thread
      awaitCollections(1);
      assertEquals(1, gc.completedEpisodes());
      assertTrue(watch.requestedEpisodes() >= 1);
      // The interval (an hour here) holds every further request back: no GC storm.
      System.gc();
      watch.check();
      Thread.sleep(200);
      assertEquals(1, collections.get());
    }
  }

  @Test
  void afterCloseCollectionsAreNotWatched() throws Exception {
    HeapWatch watch = HeapWatch.start(quota, gc);
    watch.close();
    assertTrue(quota.tryAdmit(700 * MIB));
    committedHeap.set(300 * MIB);
    System.gc();
    Thread.sleep(300);
    assertEquals(0, collections.get());
    assertEquals(0, watch.requestedEpisodes());
  }

  private void awaitCollections(int count) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (collections.get() < count && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals(count, collections.get());
  }
}

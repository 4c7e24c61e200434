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
    try (HeapWatch watch = HeapWatch.start(quota, gc, true)) {
      assertTrue(quota.tryAdmit(700 * MIB));
      assertFalse(watch.check(), "100 + 700 MiB of 1 GiB: below 90 %");
      assertEquals(0, watch.requestedEpisodes());
    }
  }

  @Test
  void aHeapNearTheBudgetWithLittleNativeMemoryIsLeftToTheJvm() {
    try (HeapWatch watch = HeapWatch.start(quota, gc, true)) {
      committedHeap.set(BUDGET - 50 * MIB);
      assertTrue(quota.tryAdmit(50 * MIB)); // heap + native = the budget, native under 10 %
      assertFalse(watch.check(), "a JVM-only stage: the heap may use its whole maximum");
    }
  }

  @Test
  void aRealCollectionThatLeavesHeapAndNativeOverTheThresholdStartsOneEpisode() throws Exception {
    try (HeapWatch watch = HeapWatch.start(quota, gc, true)) {
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
    HeapWatch watch = HeapWatch.start(quota, gc, true);
    watch.close();
    assertTrue(quota.tryAdmit(700 * MIB));
    committedHeap.set(300 * MIB);
    System.gc();
    Thread.sleep(300);
    assertEquals(0, collections.get());
    assertEquals(0, watch.requestedEpisodes());
  }

  @Test
  void withoutACollectionTheTickAsksForTheEpisodeAndMeasuresTheOvershoot() throws Exception {
    try (HeapWatch watch = HeapWatch.start(quota, gc, true)) {
      assertTrue(quota.tryAdmit(900 * MIB));
      committedHeap.set(164 * MIB); // 40 MiB over the budget, and no collection reported
      awaitCollections(1);
      awaitOvershootNanos(watch, TimeUnit.MILLISECONDS.toNanos(2 * HeapWatch.TICK_MILLIS));
      assertEquals(40 * MIB, watch.overshoot().peakExcessBytes());
      assertEquals(1, watch.overshoot().excursions());
    }
  }

  @Test
  void aWatchThatDoesNotActOnlyMeasures() throws Exception {
    try (HeapWatch watch = HeapWatch.start(quota, gc, false)) {
      assertTrue(quota.tryAdmit(900 * MIB));
      committedHeap.set(134 * MIB);
      assertFalse(watch.check(), "10 MiB over the budget, but the watch only measures");
      awaitOvershootNanos(watch, TimeUnit.MILLISECONDS.toNanos(2 * HeapWatch.TICK_MILLIS));
      committedHeap.set(100 * MIB);
      watch.check();
      long above = watch.overshoot().nanosAboveBudget();
      Thread.sleep(3 * HeapWatch.TICK_MILLIS);
      assertEquals(above, watch.overshoot().nanosAboveBudget(), "under the budget again");
      assertEquals(10 * MIB, watch.overshoot().peakExcessBytes());
      assertEquals(0, collections.get());
      assertEquals(0, watch.requestedEpisodes());
    }
  }

  private static void awaitOvershootNanos(HeapWatch watch, long nanos)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (watch.overshoot().nanosAboveBudget() < nanos && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertTrue(watch.overshoot().nanosAboveBudget() >= nanos, "the ticks measured the time above");
  }

  private void awaitCollections(int count) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (collections.get() < count && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals(count, collections.get());
  }
}

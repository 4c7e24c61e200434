package io.dynoffheap.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class GcCoordinatorTest {
  private static final long HOUR = TimeUnit.HOURS.toNanos(1);

  @Test
  void threadsShortTogetherShareOneEpisode() throws Exception {
    AtomicInteger collections = new AtomicInteger();
    CountDownLatch everyoneArrived = new CountDownLatch(8);
    // The collection waits until all 8 threads have asked, so they are all short "at once".
    GcCoordinator gc = new GcCoordinator(() -> {
      collections.incrementAndGet();
      await(everyoneArrived);
    }, HeapShrink.of(false), 0, System::nanoTime); // no rate limit: coalescing alone must do it

    List<Thread> threads = new ArrayList<>();
    AtomicInteger served = new AtomicInteger();
    for (int i = 0; i < 8; i++) {
      Thread thread = new Thread(() -> {
        long seen = gc.completedEpisodes();
        everyoneArrived.countDown();
        if (gc.collectAfter(seen)) {
          served.incrementAndGet();
        }
      });
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) {
      thread.join();
    }
    assertEquals(1, collections.get());
    assertEquals(1, gc.completedEpisodes());
    assertEquals(8, served.get(), "every waiting thread is served by the shared episode");
  }

  @Test
  void anEpisodeAfterASpillIsNotHeldBackByTheInterval() {
    AtomicLong now = new AtomicLong(0);
    AtomicInteger collections = new AtomicInteger();
    GcCoordinator gc = new GcCoordinator(collections::incrementAndGet, HeapShrink.of(false), 1000,
        now::get);
    assertTrue(gc.collectAfter(0));
    now.set(10);
    assertFalse(gc.collectAfter(1), "too soon for an ordinary episode");
    assertTrue(gc.collectAfterSpill(), "a spill freed heap: collect now");
    assertEquals(2, collections.get());
    assertFalse(gc.collectAfter(2), "the interval counts from the last episode, also this one");
  }

  @Test
  void anEpisodeThatWasRunningDuringTheSpillDoesNotServeTheCollectionAfterIt() throws Exception {
    AtomicInteger collections = new AtomicInteger();
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    GcCoordinator gc = new GcCoordinator(() -> {
      if (collections.incrementAndGet() == 1) {
        running.countDown();
        await(release);
      }
    }, HeapShrink.of(false), HOUR, System::nanoTime);
    Thread early = new Thread(() -> gc.collectAfter(0)); // e.g. the heap watch's
    early.start();
    running.await();
    AtomicInteger servedAfterSpill = new AtomicInteger();
    Thread afterSpill = new Thread(() -> {
      if (gc.collectAfterSpill()) {
        servedAfterSpill.incrementAndGet();
      }
    });
    afterSpill.start();
    while (afterSpill.getState() != Thread.State.WAITING) {
      Thread.onSpinWait();
    }
    release.countDown();
    early.join();
    afterSpill.join();
    assertEquals(2, collections.get(), "a second episode, started after the spill");
    assertEquals(1, servedAfterSpill.get());
  }

  @Test
  void episodesAreRateLimited() {
    AtomicLong now = new AtomicLong(0);
    AtomicInteger collections = new AtomicInteger();
    GcCoordinator gc = new GcCoordinator(collections::incrementAndGet, HeapShrink.of(false), 1000,
        now::get);
    assertTrue(gc.collectAfter(0));
    now.set(999);
    assertFalse(gc.collectAfter(1), "too soon after the last episode");
    assertTrue(gc.collectAfter(0), "an episode since the caller looked already served it");
    now.set(1000);
    assertTrue(gc.collectAfter(1));
    assertEquals(2, collections.get());
    assertEquals(2, gc.completedEpisodes());
  }

  @Test
  void aFailingCollectionStillEndsTheEpisode() {
    GcCoordinator gc = new GcCoordinator(() -> {
      throw new IllegalStateException("collector refused");
    }, HeapShrink.of(true), 0, System::nanoTime);
    assertTrue(gc.collectAfter(0));
    assertEquals(1, gc.completedEpisodes());
  }

  private static void await(CountDownLatch latch) {
    try {
      assertTrue(latch.await(30, TimeUnit.SECONDS));
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }
}

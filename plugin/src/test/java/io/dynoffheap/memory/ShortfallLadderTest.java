package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The ladder when the GC interval keeps it from running an episode. */
class ShortfallLadderTest {

  @Test
  void aDenialRightAfterAnotherRequestsEpisodeSaysTheIntervalKeptItFromCollecting() {
    AtomicLong clock = new AtomicLong();
    AtomicInteger collections = new AtomicInteger();
    GcCoordinator gc = new GcCoordinator(collections::incrementAndGet, HeapShrink.of(false),
        TimeUnit.SECONDS.toNanos(1), clock::get);
    ExecutorQuota quota = new ExecutorQuota(64 * MIB, () -> 64 * MIB);
    ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, 1, 0);

    Grant first = ladder.admit(MIB, MIB, wanted -> 0);
    assertFalse(first.isGranted());
    assertTrue(first.outcome().reason().contains("1 GC episode(s) that let the heap shrink"),
        first.outcome().reason());

    clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(250));
    Grant second = ladder.admit(MIB, MIB, wanted -> 0);
    assertFalse(second.isGranted());
    String reason = second.outcome().reason();
    assertTrue(reason.contains("no new GC episode: the last one ended 250 ms ago, "
        + "spark.dynoffheap.gc.interval=1000ms"), reason);
    assertTrue(reason.contains("reclaimed 0 B idle from 0 task(s)"), reason);
    assertEquals(1, collections.get());
  }

  @Test
  void aRequestThatNoEpisodeServedWaitsForTheIntervalInsteadOfFailing() {
    AtomicInteger collections = new AtomicInteger();
    AtomicLong heap = new AtomicLong(64 * MIB);
    // The first episode (of someone else, just before) leaves the heap full; the next shrinks it.
    GcCoordinator gc = new GcCoordinator(() -> heap.set(collections.incrementAndGet() > 1
        ? 16 * MIB : 64 * MIB), HeapShrink.of(false), TimeUnit.MILLISECONDS.toNanos(200),
        System::nanoTime);
    ExecutorQuota quota = new ExecutorQuota(64 * MIB, heap::get);
    ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, 1, 0);
    assertTrue(gc.collectAfter(0));

    long start = System.nanoTime();
    Grant grant = ladder.admit(MIB, MIB, wanted -> 0);
    assertTrue(grant.isGranted(), grant.outcome().reason());
    assertEquals(2, collections.get(), "one more episode, once the interval allowed it");
    assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(150),
        "it waited for the interval");
  }

  @Test
  void theLastRetryWaitsForTheIntervalAndGetsOneMoreEpisodeBeforeADenial() {
    AtomicInteger collections = new AtomicInteger();
    AtomicLong heap = new AtomicLong(64 * MIB);
    // The ladder's first episode and the one after its spill leave the heap full; a third,
    // which only the interval holds back, shrinks it.
    GcCoordinator gc = new GcCoordinator(() -> heap.set(collections.incrementAndGet() > 2
        ? 16 * MIB : 64 * MIB), HeapShrink.of(false), TimeUnit.MILLISECONDS.toNanos(200),
        System::nanoTime);
    ExecutorQuota quota = new ExecutorQuota(64 * MIB, heap::get);
    ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, 1, 0);

    long start = System.nanoTime();
    Grant grant = ladder.admit(MIB, MIB, wanted -> wanted);
    assertTrue(grant.isGranted(), grant.outcome().reason());
    assertEquals(3, collections.get(), "a third episode, at the last retry");
    assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(150),
        "the last retry waited for the interval");
  }
}

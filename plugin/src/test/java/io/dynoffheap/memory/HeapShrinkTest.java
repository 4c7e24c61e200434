package io.dynoffheap.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Runs against this JVM's real HotSpot flags. */
class HeapShrinkTest {
  private final HeapShrink shrink = HeapShrink.of(true);

  @Test
  void ratiosAreLoweredDuringTheEpisodeAndBothRestored() {
    int min = shrink.flag(HeapShrink.MIN_FREE);
    int max = shrink.flag(HeapShrink.MAX_FREE);
    AtomicInteger minDuring = new AtomicInteger();
    AtomicInteger maxDuring = new AtomicInteger();
    shrink.collect(() -> {
      minDuring.set(shrink.flag(HeapShrink.MIN_FREE));
      maxDuring.set(shrink.flag(HeapShrink.MAX_FREE));
      System.gc();
    });
    assertEquals(Math.min(min, HeapShrink.EPISODE_MIN_FREE), minDuring.get());
    assertEquals(Math.min(max, HeapShrink.EPISODE_MAX_FREE), maxDuring.get());
    assertEquals(min, shrink.flag(HeapShrink.MIN_FREE));
    assertEquals(max, shrink.flag(HeapShrink.MAX_FREE));
  }

  @Test
  void ratiosAreRestoredWhenTheCollectionFails() {
    int min = shrink.flag(HeapShrink.MIN_FREE);
    int max = shrink.flag(HeapShrink.MAX_FREE);
    assertThrows(IllegalStateException.class, () -> shrink.collect(() -> {
      throw new IllegalStateException("GC failed");
    }));
    assertEquals(min, shrink.flag(HeapShrink.MIN_FREE));
    assertEquals(max, shrink.flag(HeapShrink.MAX_FREE));
  }

  @Test
  void ratiosAreRestoredWhenExplicitGcDoesNothing() {
    int min = shrink.flag(HeapShrink.MIN_FREE);
    int max = shrink.flag(HeapShrink.MAX_FREE);
    shrink.collect(() -> { }); // what -XX:+DisableExplicitGC makes of System.gc()
    assertEquals(min, shrink.flag(HeapShrink.MIN_FREE));
    assertEquals(max, shrink.flag(HeapShrink.MAX_FREE));
  }

  @Test
  void disabledShrinkLeavesTheFlagsAlone() {
    int max = shrink.flag(HeapShrink.MAX_FREE);
    AtomicInteger maxDuring = new AtomicInteger();
    HeapShrink.of(false).collect(() -> maxDuring.set(shrink.flag(HeapShrink.MAX_FREE)));
    assertEquals(max, maxDuring.get());
  }
}

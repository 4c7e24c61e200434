package io.dynoffheap.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.testing.ConcurrentRun;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ExecutorQuotaTest {

  @Test
  void requestThatFitsExactlyIsAdmittedOneByteMoreIsNot() {
    AtomicLong heap = new AtomicLong(600);
    ExecutorQuota quota = new ExecutorQuota(1000, heap::get);
    assertTrue(quota.tryAdmit(300));
    assertFalse(quota.tryAdmit(101));
    assertTrue(quota.tryAdmit(100));
    assertEquals(400, quota.nativeBytes());
    assertEquals(0, quota.room());

    quota.release(400);
    heap.set(999);
    assertFalse(quota.tryAdmit(2));
    assertTrue(quota.tryAdmit(1));
  }

  @Test
  void heapAboveBudgetAdmitsNothing() {
    ExecutorQuota quota = new ExecutorQuota(1000, () -> 1200);
    assertFalse(quota.tryAdmit(1));
    assertEquals(0, quota.nativeBytes());
    assertEquals(-200, quota.room());
  }

  @Test
  void badInputIsRejected() {
    assertThrows(IllegalArgumentException.class, () -> new ExecutorQuota(0, () -> 0));
    ExecutorQuota quota = new ExecutorQuota(1000, () -> 0);
    assertThrows(IllegalArgumentException.class, () -> quota.tryAdmit(0));
    assertThrows(IllegalArgumentException.class, () -> quota.tryAdmit(-1));
    quota.tryAdmit(10);
    assertThrows(IllegalStateException.class, () -> quota.release(11));
    assertEquals(10, quota.nativeBytes());
  }

  /**
   * 8 threads × 100,000 random admissions and releases against a budget far smaller than their
   * combined wishes: an observer and the counter's own peak show the total never goes over, and
   * everything comes back to exactly 0.
   */
  @Test
  void concurrentAdmissionsNeverOvershootTheBudget() throws Exception {
    long heap = 1 << 20;
    long budget = heap + (64 << 10);
    ExecutorQuota quota = new ExecutorQuota(budget, () -> heap);
    int threads = 8;
    int operations = 100_000;
    AtomicLong admitted = new AtomicLong();
    long worstObserved = ConcurrentRun.maxObserved(threads, worker -> {
      SplittableRandom random = new SplittableRandom(worker);
      List<Long> held = new ArrayList<>();
      for (int i = 0; i < operations; i++) {
        if (!held.isEmpty() && random.nextBoolean()) {
          quota.release(held.remove(held.size() - 1));
        } else {
          long bytes = 1 + random.nextLong(16 << 10);
          if (quota.tryAdmit(bytes)) {
            held.add(bytes);
            admitted.incrementAndGet();
          }
        }
      }
      for (long bytes : held) {
        quota.release(bytes);
      }
    }, () -> heap + quota.nativeBytes());

    assertTrue(admitted.get() > threads * operations / 10, "the test must exercise admission");
    assertTrue(worstObserved <= budget, "observed " + worstObserved + " > " + budget);
    assertTrue(heap + quota.peakNativeBytes() <= budget, "peak " + quota.peakNativeBytes());
    assertTrue(quota.peakNativeBytes() > budget - heap - (16 << 10), "the budget must be contended");
    assertEquals(0, quota.nativeBytes());
  }
}

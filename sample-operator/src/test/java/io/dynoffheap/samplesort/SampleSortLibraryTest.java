package io.dynoffheap.samplesort;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.nativebridge.NativePool;
import io.dynoffheap.nativebridge.PoolReservations;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The jar works as packaged: JNA finds the operator's library in it, and the operator sorts
 * through a real pool of the native bridge, spills when the pool denies memory, and gives every
 * byte back. (Spark-side behaviour is covered by src-test-spark and the demo.)
 */
class SampleSortLibraryTest {
  private static final long BLOCK = 1L << 20;
  private static final int BATCH = 16_384;

  /** Grants up to a limit, in one atomic step; denies beyond it by throwing. */
  private static final class Limited implements PoolReservations {
    final long limit;
    final AtomicLong reserved = new AtomicLong();

    Limited(long limit) {
      this.limit = limit;
    }

    @Override
    public void reserve(long bytes) {
      long now;
      do {
        now = reserved.get();
        if (now + bytes > limit) {
          throw new IllegalStateException("test limit of " + limit + " bytes reached");
        }
      } while (!reserved.compareAndSet(now, now + bytes));
    }

    @Override
    public void release(long bytes) {
      reserved.addAndGet(-bytes);
    }
  }

  private static long[] keys(int n) {
    return new SplittableRandom(42).longs(n).toArray();
  }

  /** Sorts {@code input} through a pool with {@code limit}; returns the sorter's spill count. */
  private static long sortAndCheck(long[] input, long limit, Path spillDir) {
    Limited reservations = new Limited(limit);
    long spills;
    try (NativePool pool = new NativePool(reservations, BLOCK)) {
      spills = sortThrough(pool.handle(), input, spillDir);
      assertEquals(0, pool.used(), "memory left in the pool after destroy");
      assertEquals(0, pool.closeAndReportLeaks());
    }
    assertEquals(0, reservations.reserved.get(), "reservations not given back");
    return spills;
  }

  /** Sorts {@code input} through the pool {@code poolHandle}; returns the sorter's spill count. */
  private static long sortThrough(long poolHandle, long[] input, Path spillDir) {
    long sorter = SampleSortLibrary.samplesort_create(poolHandle, 64, 1, spillDir.toString(), 1);
    assertNotEquals(0, sorter, "samplesort_create failed");
    try {
      // In batches, as a task feeds it: the sorter makes room for a whole batch at once.
      for (int from = 0; from < input.length; from += BATCH) {
        long[] batch = Arrays.copyOfRange(input, from, Math.min(input.length, from + BATCH));
        assertEquals(0, SampleSortLibrary.samplesort_add(sorter, batch, batch.length),
            () -> SampleSortLibrary.lastError(sorter));
      }
      assertEquals(input.length, SampleSortLibrary.samplesort_finish(sorter));
      long[] sorted = new long[input.length];
      long[] batch = new long[4096];
      int at = 0;
      long got;
      while ((got = SampleSortLibrary.samplesort_next(sorter, batch, batch.length)) > 0) {
        System.arraycopy(batch, 0, sorted, at, (int) got);
        at += (int) got;
      }
      long[] expected = input.clone();
      Arrays.sort(expected);
      assertTrue(Arrays.equals(expected, sorted), "the sorted keys differ from Arrays.sort");
      assertEquals(0, SampleSortLibrary.samplesort_payload_errors(sorter));
      return SampleSortLibrary.samplesort_spills(sorter);
    } finally {
      SampleSortLibrary.samplesort_destroy(sorter);
    }
  }

  @Test
  void sortsInMemoryWhenThePoolHasRoom(@TempDir Path spillDir) {
    assertEquals(0, sortAndCheck(keys(200_000), Long.MAX_VALUE, spillDir));
  }

  @Test
  void spillsToRunFilesWhenThePoolDeniesMemory(@TempDir Path spillDir) {
    // 400,000 records of 64 B are about 24 MiB; the pool may hold 8 MiB.
    long spills = sortAndCheck(keys(400_000), 8 * BLOCK, spillDir);

    assertTrue(spills > 0, "expected the sorter to spill under an 8 MiB limit");
  }

  @Test
  void sortsOnPlainMallocWithTheBaselinePool(@TempDir Path spillDir) {
    assertEquals(0, sortThrough(SampleSortLibrary.samplesort_malloc_pool(), keys(200_000),
        spillDir));
  }
}

package io.dynoffheap.demo.job;

import io.dynoffheap.TaskPool;
import io.dynoffheap.samplesort.SampleSortLibrary;

/**
 * The sample native operator (sample-operator module: sample_sort.c and its JNA binding) in a
 * task of the demo: a pool from the task's native memory, a sorter that allocates everything
 * from it and (if allowed) spills to run files when memory is denied, and every native call
 * through {@link TaskPool#call}, so that a denial it cannot recover from becomes the plugin's
 * SparkOutOfMemoryError with the task's usage tree.
 *
 * <p>Without a task pool (the benchmarks' no-plugin baseline) the same sorter runs on the
 * operator's plain-malloc pool ({@link SampleSortLibrary#samplesort_malloc_pool}) and a failed
 * call is an IllegalStateException with the sorter's error text.
 */
final class SampleNativeSort implements NativeSort {
  /** The task's pool; null on plain malloc. */
  private final TaskPool pool;
  private final long sorter;
  private boolean destroyed;

  SampleNativeSort(TaskPool pool, int recordBytes, String spillDir, boolean allowSpill) {
    SampleSortLibrary.load();
    this.pool = pool;
    long poolHandle = pool != null ? pool.handle() : SampleSortLibrary.samplesort_malloc_pool();
    this.sorter = call("create", () -> {
      long handle = SampleSortLibrary.samplesort_create(poolHandle, recordBytes,
          allowSpill ? 1 : 0, spillDir, 1);
      return handle == 0 ? -1 : handle;
    });
  }

  @Override
  public void add(long[] keys, int n) {
    call("add", () -> SampleSortLibrary.samplesort_add(live(), keys, n));
  }

  @Override
  public long finish() {
    return call("finish", () -> SampleSortLibrary.samplesort_finish(live()));
  }

  @Override
  public int next(long[] out) {
    return (int) call("next", () -> SampleSortLibrary.samplesort_next(live(), out, out.length));
  }

  @Override
  public long spills() {
    return SampleSortLibrary.samplesort_spills(live());
  }

  @Override
  public long spilledRecords() {
    return SampleSortLibrary.samplesort_spilled_records(live());
  }

  /** Frees the sorter's memory through the pool and deletes its run files. */
  @Override
  public void close() {
    if (!destroyed) {
      destroyed = true;
      SampleSortLibrary.samplesort_destroy(sorter);
    }
  }

  /** On plain malloc: a negative result is a failure. */
  private static long checked(java.util.function.LongSupplier nativeCall) {
    long result = nativeCall.getAsLong();
    if (result < 0) {
      throw new IllegalStateException("native call failed with " + result);
    }
    return result;
  }

  private long live() {
    if (destroyed) {
      throw new IllegalStateException("the sample sorter was destroyed");
    }
    return sorter;
  }

  /** A native call through the pool; other failures carry the sorter's own error text. */
  private long call(String what, java.util.function.LongSupplier nativeCall) {
    try {
      return pool != null ? pool.call(nativeCall) : checked(nativeCall);
    } catch (IllegalStateException e) {
      String detail = sorter != 0 && !destroyed ? SampleSortLibrary.lastError(sorter) : "";
      throw new IllegalStateException("samplesort_" + what + " failed: " + detail, e);
    }
  }
}

package io.dynoffheap.demo.job;

import io.dynoffheap.TaskNativeMemory;
import io.dynoffheap.TaskPool;
import io.dynoffheap.samplesort.SampleSortLibrary;

/**
 * The sample native operator (sample-operator module: sample_sort.c and its JNA binding) in a
 * task of the demo: a pool from the task's native memory, a sorter that allocates everything
 * from it and spills to run files when memory is denied, and every native call through
 * {@link TaskPool#call}, so that a denial it cannot recover from becomes the plugin's
 * SparkOutOfMemoryError with the task's usage tree.
 */
final class SampleNativeSort implements NativeSort {
  private final TaskPool pool;
  private final long sorter;
  private boolean destroyed;

  SampleNativeSort(TaskNativeMemory task, int recordBytes, String spillDir) {
    SampleSortLibrary.load();
    this.pool = task.newPool("sample-sort");
    this.sorter = call("create", () -> {
      long handle = SampleSortLibrary.samplesort_create(pool.handle(), recordBytes, 1, spillDir, 1);
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

  private long live() {
    if (destroyed) {
      throw new IllegalStateException("the sample sorter was destroyed");
    }
    return sorter;
  }

  /** A native call through the pool; other failures carry the sorter's own error text. */
  private long call(String what, java.util.function.LongSupplier nativeCall) {
    try {
      return pool.call(nativeCall);
    } catch (IllegalStateException e) {
      String detail = sorter != 0 && !destroyed ? SampleSortLibrary.lastError(sorter) : "";
      throw new IllegalStateException("samplesort_" + what + " failed: " + detail, e);
    }
  }
}

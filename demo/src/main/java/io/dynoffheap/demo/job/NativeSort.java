package io.dynoffheap.demo.job;

import io.dynoffheap.TaskNativeMemory;

/**
 * The native operator of the demo as the job sees it: an external sort of int64 keys whose
 * memory is reserved through the task's native memory (a pool of the plugin), so it counts
 * against the executor's budget (dynamic sizing) or Spark's off-heap pool (static split). When
 * memory is denied it spills to run files in {@code spillDir}.
 *
 * <p>Calls may throw Spark's {@code SparkOutOfMemoryError} when memory is denied; the task then
 * fails cleanly and the executor lives. Without spilling allowed, a denial always does that.
 */
interface NativeSort extends AutoCloseable {

  /** The operator for the current task: the sample operator of module sample-operator. */
  static NativeSort open(TaskNativeMemory task, int recordBytes, String spillDir,
      boolean allowSpill) {
    return new SampleNativeSort(task.newPool("sample-sort"), recordBytes, spillDir, allowSpill);
  }

  /**
   * The same operator on plain malloc, for the benchmarks' no-plugin baseline: no pool of the
   * plugin, nothing accounted, nothing denied.
   */
  static NativeSort onMalloc(int recordBytes, String spillDir, boolean allowSpill) {
    return new SampleNativeSort(null, recordBytes, spillDir, allowSpill);
  }

  /** Adds the first {@code n} keys of {@code keys}. */
  void add(long[] keys, int n);

  /** Ends the input; returns the number of records. */
  long finish();

  /** Writes up to {@code out.length} keys, ascending, to {@code out}; returns how many, 0 at the end. */
  int next(long[] out);

  /** Run files written because memory was short. */
  long spills();

  /** Records written to run files. */
  long spilledRecords();

  /** Frees all native memory; may be called more than once. */
  @Override
  void close();
}

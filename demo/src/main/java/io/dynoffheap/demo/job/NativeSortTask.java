package io.dynoffheap.demo.job;

import io.dynoffheap.NativeMemory;
import java.util.Iterator;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.util.LongAccumulator;
import org.apache.spark.util.TaskCompletionListener;

/**
 * The native stage of the demo, one partition: turns the partition's ids into keys (real,
 * generated data), sorts them with the native operator and streams them out in order to the
 * JVM-side aggregation that follows in the same task. The operator's memory stays reserved until
 * the output has been read, so for a while the task holds native memory and Spark's aggregation
 * memory at once.
 */
final class NativeSortTask implements MapPartitionsFunction<Long, Long> {
  private static final long serialVersionUID = 1L;
  private static final int BATCH = 1 << 16;

  private final int recordBytes;
  private final String spillDir;
  private final boolean allowSpill;
  private final boolean pluginPool;
  private final LongAccumulator records;
  private final LongAccumulator spills;
  private final LongAccumulator spilledRecords;
  private final LongAccumulator outOfOrder;

  /**
   * @param allowSpill whether the operator spills to run files when memory is denied
   * @param pluginPool true: memory from a pool of the plugin; false: plain malloc (no plugin)
   */
  NativeSortTask(int recordBytes, String spillDir, boolean allowSpill, boolean pluginPool,
      LongAccumulator records, LongAccumulator spills, LongAccumulator spilledRecords,
      LongAccumulator outOfOrder) {
    this.recordBytes = recordBytes;
    this.spillDir = spillDir;
    this.allowSpill = allowSpill;
    this.pluginPool = pluginPool;
    this.records = records;
    this.spills = spills;
    this.spilledRecords = spilledRecords;
    this.outOfOrder = outOfOrder;
  }

  /** The key of row {@code id}: SplitMix64, so keys are spread over the whole long range. */
  static long key(long id) {
    long z = id * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  @Override
  public Iterator<Long> call(Iterator<Long> ids) {
    NativeSort sort = pluginPool
        ? NativeSort.open(NativeMemory.currentTask(), recordBytes, spillDir, allowSpill)
        : NativeSort.onMalloc(recordBytes, spillDir, allowSpill);
    // Registered after the plugin's own listener, so it runs first (Spark runs them in reverse):
    // the operator frees its memory before the plugin checks the task's tree for leaks.
    TaskCompletionListener closeSort = context -> sort.close();
    TaskContext.get().addTaskCompletionListener(closeSort);
    long[] batch = new long[BATCH];
    int n = 0;
    while (ids.hasNext()) {
      batch[n++] = key(ids.next());
      if (n == BATCH) {
        sort.add(batch, n);
        n = 0;
      }
    }
    if (n > 0) {
      sort.add(batch, n);
    }
    records.add(sort.finish());
    spills.add(sort.spills());
    spilledRecords.add(sort.spilledRecords());
    return new Output(sort);
  }

  /** Reads the sorted keys in batches; frees the operator's memory after the last one. */
  private final class Output implements Iterator<Long> {
    private final NativeSort sort;
    private final long[] buffer = new long[BATCH];
    private int size;
    private int position;
    private boolean done;
    private long previous = Long.MIN_VALUE;

    Output(NativeSort sort) {
      this.sort = sort;
    }

    @Override
    public boolean hasNext() {
      if (position < size) {
        return true;
      }
      if (done) {
        return false;
      }
      size = sort.next(buffer);
      position = 0;
      if (size == 0) {
        done = true;
        sort.close();
        return false;
      }
      return true;
    }

    @Override
    public Long next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      long key = buffer[position++];
      if (key < previous) {
        outOfOrder.add(1);
      }
      previous = key;
      return key;
    }
  }
}

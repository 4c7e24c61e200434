package io.dynoffheap.sparktest.samplesort;

import java.io.File;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.util.Utils;

/**
 * The few Spark internals the suites read from inside tasks. They are {@code private[spark]} in
 * Scala, which the Scala compiler enforces but Java bytecode does not (they are public methods),
 * so they are reached from Java.
 */
public final class SparkInternals {
  private SparkInternals() {}

  /** The Tungsten memory mode of the task on this thread (ON_HEAP unless Spark's off-heap is on). */
  public static MemoryMode tungstenMemoryMode() {
    return TaskContext.get().taskMemoryManager().getTungstenMemoryMode();
  }

  /** Execution memory Spark's TaskMemoryManager has granted to the task on this thread now. */
  public static long taskExecutionMemory() {
    return TaskContext.get().taskMemoryManager().getMemoryConsumptionForThisTask();
  }

  /**
   * A directory for an operator's spill files: one of Spark's local directories of this executor
   * (where Spark's own sorts spill), as a native engine inside Spark would use.
   */
  public static File spillDirectory() {
    File dir = new File(Utils.getLocalDir(SparkEnv.get().conf()), "samplesort");
    if (!dir.isDirectory() && !dir.mkdirs() && !dir.isDirectory()) {
      throw new IllegalStateException("cannot create spill directory " + dir);
    }
    return dir;
  }
}

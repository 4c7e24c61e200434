package io.dynoffheap.memory;

import java.util.Map;
import org.apache.spark.memory.SparkOutOfMemoryError;

/**
 * Builds the error a task fails with when it cannot get memory: Spark's
 * {@link SparkOutOfMemoryError} with condition UNABLE_TO_ACQUIRE_MEMORY, made through the
 * (errorClass, parameters) constructor that Spark 3.5 and 4.x both have. It fails the task, not
 * the executor.
 *
 * <p>Spark's message template is "Unable to acquire &lt;requestedBytes&gt; bytes of memory, got
 * &lt;receivedBytes&gt;." The plugin's explanation (the denial reason, the usage tree and the
 * setting to change) follows the received bytes, so it is part of the message users see.
 */
public final class OutOfMemory {
  static final String CONDITION = "UNABLE_TO_ACQUIRE_MEMORY";

  private OutOfMemory() {}

  /**
   * @param node the path of the node that asked
   * @param requested bytes asked for
   * @param denial the denial, with reason and setting
   * @param tree the usage tree of the asking task
   */
  public static SparkOutOfMemoryError error(String node, long requested, Borrowing denial,
      MemoryUsage tree) {
    String explanation = "0 bytes for memory node '" + node + "'.\n"
        + denial.reason() + ".\n"
        + "Usage tree (used, peak; at the task, also what it reserved in blocks):\n" + tree.render()
        + "To change: " + denial.setting();
    return new SparkOutOfMemoryError(CONDITION,
        Map.of("requestedBytes", Long.toString(requested), "receivedBytes", explanation));
  }
}

package io.dynoffheap;

import io.dynoffheap.config.PluginSettings;
import io.dynoffheap.memory.Bytes;

/**
 * What one executor's memory looks like under the plugin: the budget for heap and native memory
 * together, the task slots, and the per-task native size hint that native code may use to size
 * its buffers. The hint is derived as Gluten derives it,
 * {@code (executor memory - 300 MiB) * fraction / task slots}; it is not a cap.
 */
public record MemoryPlan(long budget, int taskSlots, long perTaskHint, boolean dynamicSizing) {
  /** Spark's reserved system memory, which its memory manager never hands out. */
  static final long SPARK_RESERVED = 300L << 20;

  static MemoryPlan of(PluginSettings settings, long maxHeap, int executorCores, int taskCpus) {
    long budget = settings.budget(maxHeap);
    int slots = Math.max(1, executorCores / Math.max(1, taskCpus));
    long hint = (long) (Math.max(0, budget - SPARK_RESERVED) * settings.memoryFraction() / slots);
    return new MemoryPlan(budget, slots, hint, settings.dynamicSizing());
  }

  @Override
  public String toString() {
    return (dynamicSizing ? "dynamic off-heap sizing: budget " : "static off-heap split: heap ")
        + Bytes.format(budget) + " for heap and native memory together, " + taskSlots
        + " task slot(s), per-task native size hint " + Bytes.format(perTaskHint);
  }
}

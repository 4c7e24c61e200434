package io.dynoffheap;

import org.apache.spark.TaskContext;

/**
 * The public entry point for code running inside Spark tasks: {@link #currentTask()} gives the
 * native memory of the task on this thread.
 *
 * <p>The executor's {@link ExecutorMemory} is published here by the executor plugin when the
 * executor starts; like Spark's own {@code SparkEnv.get()}, task code has no other way to reach
 * executor-wide state. It is the plugin's only static state, set once per executor.
 */
public final class NativeMemory {
  private static volatile ExecutorMemory executor;

  private NativeMemory() {}

  /** The native memory of the task running on this thread. */
  public static TaskNativeMemory currentTask() {
    TaskContext context = TaskContext.get();
    if (context == null) {
      throw new IllegalStateException("NativeMemory.currentTask() was called outside a Spark task "
          + "thread; pass the TaskNativeMemory (or its nodes) to other threads instead");
    }
    return executor().forTask(context);
  }

  /** The executor's memory state; fails with the reason when the plugin is not running here. */
  public static ExecutorMemory executor() {
    ExecutorMemory current = executor;
    if (current == null) {
      throw new IllegalStateException("The dynamic off-heap sizing plugin is not running in this "
          + "executor: add its jar with --jars and set spark.plugins="
          + DynamicOffHeapSizingPlugin.class.getName());
    }
    return current;
  }

  static void install(ExecutorMemory memory) {
    executor = memory;
  }

  static void uninstall(ExecutorMemory memory) {
    if (executor == memory) {
      executor = null;
    }
  }
}

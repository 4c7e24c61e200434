package io.dynoffheap.arrow;

import io.dynoffheap.NativeMemory;
import io.dynoffheap.TaskNativeMemory;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Task-scoped Arrow allocators for code running in Spark tasks. Each call makes a new Arrow root
 * allocator whose buffers are reserved from a new node of the task's memory tree, in blocks of
 * spark.gluten.memory.reservationBlockSize, and which is closed when the task ends (leaks are
 * reported with Arrow's report and released).
 *
 * <pre>{@code
 * BufferAllocator allocator = ArrowAllocators.forCurrentTask("my-operator");
 * try (BigIntVector vector = new BigIntVector("ids", allocator)) {
 *   ...   // a denial is Arrow's OutOfMemoryException with the task's usage tree
 * }
 * }</pre>
 *
 * <p>Make child allocators with {@code newChildAllocator(name, reservation, limit)}, which keeps
 * the one listener of the tree, so buffers may move between children. Buffers cannot move to an
 * allocator of another root (Arrow refuses it), so one operator should use one task allocator.
 */
public final class ArrowAllocators {

  private ArrowAllocators() {}

  /** A new allocator of the task running on this thread, without Arrow limit or spiller. */
  public static BufferAllocator forCurrentTask(String name) {
    return forCurrentTask(name, Long.MAX_VALUE, ArrowSpiller.NONE);
  }

  /**
   * A new allocator of the task running on this thread.
   *
   * @param limit Arrow's limit for the allocator tree ({@code Long.MAX_VALUE}: none)
   * @param spiller closes buffers of the allocator when memory is wanted
   */
  public static BufferAllocator forCurrentTask(String name, long limit, ArrowSpiller spiller) {
    return open(NativeMemory.currentTask(), name, limit, spiller).allocator();
  }

  /**
   * A new allocator of {@code task} (usable from any thread working for the task), closed when
   * the task ends.
   */
  public static TaskAllocator open(TaskNativeMemory task, String name, long limit,
      ArrowSpiller spiller) {
    TaskAllocator allocator =
        TaskAllocator.open(task.root(), name, task.reservationBlock(), limit, spiller);
    task.closeAtTaskEnd(allocator);
    return allocator;
  }
}

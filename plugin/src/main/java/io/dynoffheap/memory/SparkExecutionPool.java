package io.dynoffheap.memory;

import java.lang.reflect.Field;
import org.apache.spark.memory.MemoryManager;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.TaskMemoryManager;

/**
 * One task's place in Spark's on-heap execution pool, taken and given back without making Spark
 * spill anyone: how native memory registers with Spark under dynamic sizing.
 *
 * <p>Why not through the TaskMemoryManager: its {@code acquireExecutionMemory} spills the task's
 * other consumers whenever the pool is short. Native memory is admitted by the executor quota;
 * when the quota has admitted a block, making Spark's sorts and aggregations spill to register it
 * would free heap that nobody asked for. So the block registers only what the pool has free:
 *
 * <ol>
 *   <li>under the memory manager's monitor (the pool's own lock), the free bytes are what neither
 *       execution nor storage uses: {@code maxOnHeapStorageMemory - onHeapStorageMemoryUsed};
 *   <li>at most that much is acquired for the task from the memory manager. A request the pool
 *       can fill is never made to wait for other tasks (Spark waits only when it cannot grant a
 *       task its 1/2N share), and no consumer is spilled;
 *   <li>a give-back releases to the memory manager for the task.
 * </ol>
 *
 * The TaskMemoryManager's list of consumers must still hold the tree, so that Spark asks it to
 * spill: the tree takes one token byte through the TaskMemoryManager first (see
 * {@link TreeMemoryConsumer}).
 *
 * <p>The memory manager and the task's id are private to the TaskMemoryManager; they are read
 * once per task by reflection (field names unchanged from Spark 3.0 to 4.2). Where that fails,
 * {@link #of} returns null and the tree registers through the TaskMemoryManager as before.
 */
final class SparkExecutionPool {
  private static final Field MANAGER = field("memoryManager");
  private static final Field TASK_ID = field("taskAttemptId");

  private final MemoryManager manager;
  private final long taskAttemptId;

  private SparkExecutionPool(MemoryManager manager, long taskAttemptId) {
    this.manager = manager;
    this.taskAttemptId = taskAttemptId;
  }

  /** The pool of {@code tmm}'s task, or null when Spark's internals are not as expected. */
  static SparkExecutionPool of(TaskMemoryManager tmm) {
    if (MANAGER == null || TASK_ID == null) {
      return null;
    }
    try {
      return new SparkExecutionPool((MemoryManager) MANAGER.get(tmm), TASK_ID.getLong(tmm));
    } catch (IllegalAccessException | RuntimeException e) {
      return null;
    }
  }

  /** Acquires up to {@code max} bytes the pool has free; returns what it granted (maybe 0). */
  long takeFree(long max) {
    synchronized (manager) {
      long free = manager.maxOnHeapStorageMemory() - manager.onHeapStorageMemoryUsed();
      long ask = Math.min(max, free);
      return ask > 0 ? manager.acquireExecutionMemory(ask, taskAttemptId, MemoryMode.ON_HEAP) : 0;
    }
  }

  /** Releases {@code bytes} acquired earlier with {@link #takeFree}. */
  void give(long bytes) {
    if (bytes > 0) {
      manager.releaseExecutionMemory(bytes, taskAttemptId, MemoryMode.ON_HEAP);
    }
  }

  private static Field field(String name) {
    try {
      Field field = TaskMemoryManager.class.getDeclaredField(name);
      field.setAccessible(true);
      return field;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }
}

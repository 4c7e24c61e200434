package io.dynoffheap;

import io.dynoffheap.memory.IdleMemory;
import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.Spiller;
import io.dynoffheap.memory.TreeMemoryConsumer;
import io.dynoffheap.memory.TreeNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The native memory of one task: its tree (under one Spark consumer) and what else lives as long
 * as the task. Obtained with {@link NativeMemory#currentTask()}; closed by the plugin when the
 * task completes, before Spark checks the task's memory for leaks.
 *
 * <p>Usage from JVM code that needs native memory:
 * <pre>{@code
 * TreeNode buffers = NativeMemory.currentTask().newNode("my-codec", TreeNode.UNLIMITED, spiller);
 * buffers.reserve(bytes);   // or SparkOutOfMemoryError with the usage tree
 * ...
 * buffers.repay(bytes);
 * }</pre>
 *
 * <p>With dynamic sizing it is registered as the task's {@link IdleMemory}: when the executor
 * quota is short, another thread may take back the unused blocks of its resources (native pools,
 * Arrow allocators) and its root's headroom.
 */
public final class TaskNativeMemory implements IdleMemory {
  private final long taskAttemptId;
  private final TreeMemoryConsumer consumer;
  private final MemoryPlan plan;
  private final long reservationBlock;
  private final boolean debug;
  private final List<TaskScoped> resources = new CopyOnWriteArrayList<>();

  TaskNativeMemory(long taskAttemptId, TreeMemoryConsumer consumer, MemoryPlan plan,
      long reservationBlock) {
    this(taskAttemptId, consumer, plan, reservationBlock, false);
  }

  /**
   * With {@code debug} (spark.dynoffheap.debug) the task's native pools run in libdynoffheap's
   * debug mode: their leak reports name the native code that allocated the bytes still held.
   */
  TaskNativeMemory(long taskAttemptId, TreeMemoryConsumer consumer, MemoryPlan plan,
      long reservationBlock, boolean debug) {
    this.taskAttemptId = taskAttemptId;
    this.consumer = consumer;
    this.plan = plan;
    this.reservationBlock = reservationBlock;
    this.debug = debug;
  }

  public long taskAttemptId() {
    return taskAttemptId;
  }

  /** The root of the task's tree. */
  public TreeNode root() {
    return consumer.root();
  }

  /** A new child of the root, with no capacity of its own and no spiller. */
  public TreeNode newNode(String name) {
    return root().newChild(name);
  }

  /** A new child of the root that frees memory through {@code spiller} when asked. */
  public TreeNode newNode(String name, long capacity, Spiller spiller) {
    return root().newChild(name, capacity, spiller);
  }

  /**
   * A native pool for native code of this task, bound to a new child of the root named
   * {@code name}; closed when the task ends. Give {@link TaskPool#handle()} to the native code.
   */
  public TaskPool newPool(String name) {
    TaskPool pool = new TaskPool(this, name);
    closeAtTaskEnd(pool);
    return pool;
  }

  /** The size native code may plan its buffers for in this task; a hint, not a cap. */
  public long sizeHint() {
    return plan.perTaskHint();
  }

  /** The block size in which pools reserve (spark.gluten.memory.reservationBlockSize). */
  public long reservationBlock() {
    return reservationBlock;
  }

  /** Whether the task's native pools record native allocation sites (spark.dynoffheap.debug). */
  public boolean debug() {
    return debug;
  }

  /** Bytes freed by spills in this task so far. */
  public long spilledBytes() {
    return consumer.spilledBytes();
  }

  /** Has {@code resource} closed when the task ends, before the tree is checked for leaks. */
  public void closeAtTaskEnd(TaskScoped resource) {
    resources.add(resource);
  }

  /** The resources give back their unused blocks, then the root's headroom goes to the quota. */
  @Override
  public long reclaimIdle() {
    return consumer.reclaimIdle(() -> resources.forEach(TaskScoped::releaseUnused));
  }

  @Override
  public String toString() {
    return "native memory of task " + taskAttemptId;
  }

  /** Closes the resources, then the tree; returns every leak found, resources' first. */
  List<MemoryLeak> close() {
    List<MemoryLeak> leaks = new ArrayList<>();
    for (TaskScoped resource : resources) {
      leaks.addAll(resource.close());
    }
    leaks.addAll(consumer.close());
    return leaks;
  }
}

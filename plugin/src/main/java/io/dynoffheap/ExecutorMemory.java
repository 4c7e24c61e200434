package io.dynoffheap;

import io.dynoffheap.config.PluginSettings;
import io.dynoffheap.memory.BudgetOvershoot;
import io.dynoffheap.memory.ExecutorQuota;
import io.dynoffheap.memory.GcCoordinator;
import io.dynoffheap.memory.HeapShrink;
import io.dynoffheap.memory.HeapWatch;
import io.dynoffheap.memory.IdleReclaim;
import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.MemoryStats;
import io.dynoffheap.memory.ShortfallLadder;
import io.dynoffheap.memory.TreeMemoryConsumer;
import io.dynoffheap.timeline.MemorySample;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.memory.MemoryManager;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plugin's memory state of one executor, built once when the executor starts: the quota,
 * the GC coordinator and the shortfall ladder (used with dynamic sizing), the counters, and the
 * native memory of each running task.
 *
 * <p>With dynamic sizing a {@link HeapWatch} asks for a shared GC episode whenever heap + native
 * is above 90 % of the budget while native memory holds 10 % or more, so the heap's own growth
 * after admissions is taken back, and it measures how far and how long heap + native went over
 * the budget ({@link #overshoot()}).
 *
 * <p>A task's {@link TaskNativeMemory} is made on first use from the task's own thread, with a
 * completion listener that closes it. Spark runs completion listeners before it checks the task
 * for leaked memory (and long before the plugin's onTaskSucceeded/onTaskFailed hooks), so the
 * task's Spark consumer is at zero by then. What was still reserved is logged with the usage
 * tree, always released, and in leak-check mode "fail" also fails the task. With dynamic sizing
 * the task is registered for idle reclaim ({@link IdleReclaim}) while it is open.
 *
 * <p>In debug mode (spark.dynoffheap.debug) the task's tree records where each reservation was
 * made, the task's native pools run in libdynoffheap's debug mode (they record the native code
 * that made each allocation), and the leak report prints both.
 *
 * <p>All settings come from the executor's SparkConf, never from thread-local SQL state, so RDD
 * jobs and SQL jobs behave the same.
 */
public final class ExecutorMemory {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorMemory.class);
  private static final BudgetOvershoot NO_OVERSHOOT = new BudgetOvershoot();

  private final PluginSettings settings;
  private final MemoryPlan plan;
  private final ShortfallLadder ladder;
  /** Dynamic sizing: GC episodes when the heap grows past what native memory leaves it. */
  private final HeapWatch heapWatch;
  private final MemoryStats stats = new MemoryStats();
  private final Map<Long, TaskNativeMemory> tasks = new ConcurrentHashMap<>();

  ExecutorMemory(PluginSettings settings, MemoryPlan plan) {
    this.settings = settings;
    this.plan = plan;
    Runtime runtime = Runtime.getRuntime();
    ExecutorQuota quota = new ExecutorQuota(plan.budget(), runtime::totalMemory);
    GcCoordinator gc = new GcCoordinator(System::gc, HeapShrink.of(settings.heapShrink()),
        TimeUnit.MILLISECONDS.toNanos(settings.gcIntervalMillis()), System::nanoTime);
    this.ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, settings.gcRetries(),
        settings.gcBackoffMillis());
    this.heapWatch = settings.dynamicSizing()
        ? HeapWatch.start(quota, gc, settings.heapWatch()) : null;
  }

  /** Stops watching the heap: the executor shuts down. */
  void close() {
    if (heapWatch != null) {
      heapWatch.close();
    }
  }

  public MemoryPlan plan() {
    return plan;
  }

  public PluginSettings settings() {
    return settings;
  }

  public ExecutorQuota quota() {
    return ladder.quota();
  }

  public GcCoordinator gc() {
    return ladder.gc();
  }

  public IdleReclaim idle() {
    return ladder.idle();
  }

  public MemoryStats stats() {
    return stats;
  }

  /**
   * How far and how long committed heap + native went over the budget; with the static split
   * (no shared budget) it stays empty.
   */
  public BudgetOvershoot overshoot() {
    return heapWatch != null ? heapWatch.overshoot() : NO_OVERSHOOT;
  }

  /**
   * The executor's memory now, for the timelines. Spark's off-heap execution memory excludes the
   * plugin's own native blocks, which the static split registers in that pool.
   */
  public MemorySample sample() {
    ExecutorQuota quota = quota();
    GcCoordinator gc = gc();
    MemoryManager spark = SparkEnv.get() == null ? null : SparkEnv.get().memoryManager();
    long pluginInSparkOffHeap = settings.dynamicSizing() ? 0 : stats.nativeBytes();
    return new MemorySample(System.currentTimeMillis(), quota.budget(), quota.committedHeap(),
        stats.nativeBytes(), gc.completedEpisodes(),
        TimeUnit.NANOSECONDS.toMillis(gc.totalEpisodeNanos()), stats.spilledBytes(),
        stats.denied(),
        spark == null ? 0 : spark.onHeapExecutionMemoryUsed(),
        spark == null ? 0 : spark.onHeapStorageMemoryUsed(),
        spark == null ? 0 : Math.max(0, spark.offHeapExecutionMemoryUsed() - pluginInSparkOffHeap),
        spark == null ? 0 : spark.offHeapStorageMemoryUsed(),
        ResidentMemory.bytes());
  }

  /** Tasks whose native memory is open right now. */
  public int openTasks() {
    return tasks.size();
  }

  /** The native memory of the task running on this thread, made on first use. */
  TaskNativeMemory forTask(TaskContext context) {
    long id = context.taskAttemptId();
    TaskNativeMemory existing = tasks.get(id);
    if (existing != null) {
      return existing;
    }
    String name = "task-" + id + " (stage " + context.stageId() + "." + context.stageAttemptNumber()
        + ", partition " + context.partitionId() + ")";
    TreeMemoryConsumer consumer = settings.dynamicSizing()
        ? TreeMemoryConsumer.dynamic(context.taskMemoryManager(), name,
            settings.reservationBlock(), ladder, stats)
        : TreeMemoryConsumer.staticSplit(context.taskMemoryManager(), name,
            settings.reservationBlock(), stats);
    if (settings.debug()) {
      consumer.root().recordReservationSites();
    }
    TaskNativeMemory task = new TaskNativeMemory(id, consumer, plan, settings.reservationBlock(),
        settings.debug());
    tasks.put(id, task);
    if (settings.dynamicSizing()) {
      ladder.idle().register(task);
    }
    TaskCompletionListener closeAtEnd = completed -> endTask(id, name);
    context.addTaskCompletionListener(closeAtEnd);
    return task;
  }

  private void endTask(long id, String name) {
    TaskNativeMemory task = tasks.remove(id);
    if (task == null) {
      return;
    }
    ladder.idle().unregister(task);
    List<MemoryLeak> leaks = task.close();
    if (leaks.isEmpty()) {
      return;
    }
    leaks.forEach(stats::recordLeak);
    String report = "Native memory leak in " + name + ": still reserved at task end and now "
        + "released: " + leaks + ". The code that reserved it must release it before the task "
        + "ends (spark.dynoffheap.leakCheck=" + (settings.failOnLeak() ? "fail" : "warn") + ")";
    if (settings.failOnLeak()) {
      throw new IllegalStateException(report);
    }
    LOG.warn(report);
  }
}

package io.dynoffheap.sparktest

import io.dynoffheap.NativeMemory
import io.dynoffheap.sparktest.samplesort.SparkInternals
import org.apache.spark.{SparkContext, SparkEnv}

/** The plugin's memory state of one executor, as a task running there sees it. */
final case class ExecutorMemorySnapshot(
    executorId: String,
    pid: Long,
    dynamicSizing: Boolean,
    /** MemoryStats: native bytes held by all task trees now, and their peak. */
    nativeBytes: Long,
    peakNativeBytes: Long,
    granted: Long,
    denied: Long,
    spilledBytes: Long,
    leaks: Long,
    leakedBytes: Long,
    /** ExecutorQuota: native bytes admitted now (dynamic sizing only), and the budget. */
    quotaNativeBytes: Long,
    quotaPeakNativeBytes: Long,
    budget: Long,
    committedHeap: Long,
    gcEpisodes: Long,
    openTasks: Int,
    /** BudgetOvershoot: worst excess of committed heap + native over the budget, time above. */
    overshootPeakBytes: Long,
    overshootNanos: Long,
    overshootExcursions: Long,
    /** Spark's view from the same task. */
    offHeapEnabledConf: Option[String],
    tungstenMemoryMode: String)

/**
 * Reads [[io.dynoffheap.ExecutorMemory]] from inside tasks. The task itself never touches native
 * memory, so it does not show up in what it reads (openTasks counts other running tasks only).
 */
object ExecutorMemoryProbe {

  def here(): ExecutorMemorySnapshot = {
    val memory = NativeMemory.executor()
    val stats = memory.stats()
    val quota = memory.quota()
    ExecutorMemorySnapshot(
      executorId = SparkEnv.get.executorId,
      pid = ProcessHandle.current().pid(),
      dynamicSizing = memory.settings().dynamicSizing(),
      nativeBytes = stats.nativeBytes(),
      peakNativeBytes = stats.peakNativeBytes(),
      granted = stats.granted(),
      denied = stats.denied(),
      spilledBytes = stats.spilledBytes(),
      leaks = stats.leaks(),
      leakedBytes = stats.leakedBytes(),
      quotaNativeBytes = quota.nativeBytes(),
      quotaPeakNativeBytes = quota.peakNativeBytes(),
      budget = quota.budget(),
      committedHeap = quota.committedHeap(),
      gcEpisodes = memory.gc().completedEpisodes(),
      openTasks = memory.openTasks(),
      overshootPeakBytes = memory.overshoot().peakExcessBytes(),
      overshootNanos = memory.overshoot().nanosAboveBudget(),
      overshootExcursions = memory.overshoot().excursions(),
      offHeapEnabledConf = SparkEnv.get.conf.getOption("spark.memory.offHeap.enabled"),
      tungstenMemoryMode = SparkInternals.tungstenMemoryMode().toString)
  }

  /**
   * One snapshot per executor that served a one-task-per-core job (the suites using this run a
   * single executor). Distinct executors are returned once each.
   */
  def run(sc: SparkContext): Seq[ExecutorMemorySnapshot] = {
    val tasks = math.max(1, sc.defaultParallelism)
    sc.parallelize(0 until tasks, tasks).mapPartitions(_ => Iterator(here())).collect().toSeq
      .groupBy(_.executorId).values.map(_.head).toSeq.sortBy(_.executorId)
  }

  /**
   * Lets the one executor of a single-executor session start a scenario from a small heap: one
   * shared GC episode that lets the heap shrink, then a wait of the minimum interval, so the
   * scenario's own shortfalls may run an episode again.
   */
  def settleHeap(sc: SparkContext): Unit =
    sc.parallelize(Seq(0), 1).foreach { _ =>
      val gc = NativeMemory.executor().gc()
      gc.collectAfterSpill()
      Thread.sleep(java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(gc.minIntervalNanos()) + 100)
    }

  /** The snapshot of the one executor of a single-executor session. */
  def single(sc: SparkContext): ExecutorMemorySnapshot = {
    val all = run(sc)
    require(all.size == 1, s"expected one executor, saw ${all.map(_.executorId)}")
    all.head
  }
}

package io.dynoffheap.sparktest

import org.apache.spark.{SparkContext, SparkEnv, TaskContext}

/** What a task sees of the JVM and executor it runs in. */
final case class ExecutorFacts(
    executorId: String,
    pid: Long,
    maxHeapBytes: Long,
    executorMemoryConf: Option[String],
    stageId: Int,
    partitionId: Int)

/**
 * Runs tiny jobs that report, from inside their tasks, which executor and JVM served them.
 * Everything the closures use lives in this object, so they never capture a test suite.
 */
object ExecutorProbe {

  /** Facts as seen by the task currently running on this thread. */
  def here(): ExecutorFacts = {
    val ctx = TaskContext.get()
    val env = SparkEnv.get
    ExecutorFacts(
      executorId = env.executorId,
      pid = ProcessHandle.current().pid(),
      maxHeapBytes = Runtime.getRuntime.maxMemory(),
      executorMemoryConf = env.conf.getOption("spark.executor.memory"),
      stageId = if (ctx == null) -1 else ctx.stageId(),
      partitionId = if (ctx == null) -1 else ctx.partitionId())
  }

  /** One job with `tasks` tasks; the facts of every task, in partition order. */
  def run(sc: SparkContext, tasks: Int): Seq[ExecutorFacts] =
    sc.parallelize(0 until tasks, tasks).mapPartitions(_ => Iterator(here())).collect().toSeq
}

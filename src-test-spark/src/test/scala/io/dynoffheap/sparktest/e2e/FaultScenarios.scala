package io.dynoffheap.sparktest.e2e

import scala.util.Random

import io.dynoffheap.NativeMemory
import io.dynoffheap.arrow.ArrowAllocators
import io.dynoffheap.sparktest.samplesort.{Keys, SampleSorter, SortOptions}
import org.apache.arrow.vector.BigIntVector
import org.apache.spark.{SparkContext, SparkEnv, TaskContext}
import org.apache.spark.memory.SparkOutOfMemoryError

/** Which attempt of which partition ran where, and what it held. */
final case class AttemptOutcome(partition: Int, attempt: Int, executorId: String, pid: Long,
    heldBytes: Long)

/** The fault a soak task injects on its first attempt (later attempts run clean). */
object SoakFault extends Enumeration {
  /** Runs its work and gives everything back. */
  val None: Value = Value("none")
  /** Throws while its node, pool and Arrow memory are held: the attempt fails, is retried. */
  val Throws: Value = Value("throws")
  /** Ends without repaying one node's reservation: a leak the plugin reports and releases. */
  val Leaks: Value = Value("leaks")
  /** Asks for more than the budget: the reservation is denied, the task goes on. */
  val OverBudget: Value = Value("over-budget")

  /** Task `i`'s fault on its first attempt. */
  def of(i: Int): Value =
    if (i % 10 == 7) Throws else if (i % 25 == 11) Leaks else if (i % 50 == 23) OverBudget else None
}

/** What one soak task did. `bytes` is what it reserved; -1 where it was denied (OverBudget). */
final case class SoakOutcome(task: Int, attempt: Int, fault: String, bytes: Long)

/** The failure a soak task's [[SoakFault.Throws]] attempt fails with. */
final class InjectedFault(message: String) extends RuntimeException(message)

/**
 * Task-side code of the fault suites: memory held by every kind of user (a node, the native
 * operator with its own pthreads, an Arrow vector) when an attempt dies, is killed or fails.
 * Closures capture only their arguments.
 */
object FaultScenarios {
  private val MiB = 1L << 20

  /**
   * Holds `nodeBytes` on a node, an operator's pool with `sorterKeys` 64-byte records filled by
   * `threads` native threads, and an Arrow vector of `arrowValues` longs, none given back: the
   * caller ends the attempt (kills it, throws) or lets the task end with them (a leak). Returns the
   * bytes the three hold.
   */
  def holdEverything(name: String, nodeBytes: Long, sorterKeys: Long, threads: Int,
      arrowValues: Int): Long = {
    val task = NativeMemory.currentTask()
    task.newNode(name + "-node").reserve(nodeBytes)
    val sorter = new SampleSorter(SortOptions(recordBytes = 64, workerThreads = threads,
      poolName = name + "-pool"))
    sorter.addAll(Keys.iterator(7, 0, sorterKeys))
    sorter.abandon()
    val vector = new BigIntVector(name + "-vector", ArrowAllocators.forCurrentTask(name + "-arrow"))
    vector.allocateNew(arrowValues)
    nodeBytes + sorter.pool.node().usedBytes() + vector.getBufferSize
  }

  /**
   * Two tasks on the one executor; on their first attempt both hold native memory (node, pool
   * filled by native threads, Arrow) and partition 0 then kills its own JVM with SIGKILL, as the
   * kernel's OOM killer or a container manager would. Later attempts hold and give back the same.
   */
  def killExecutorOnFirstAttempt(sc: SparkContext, nodeBytes: Long): Seq[AttemptOutcome] =
    sc.parallelize(0 until 2, 2).map { p =>
      val ctx = TaskContext.get()
      val pid = ProcessHandle.current().pid()
      if (ctx.attemptNumber() == 0) {
        val held = holdEverything(s"doomed-$p", nodeBytes, sorterKeys = 1L << 20, threads = 2,
          arrowValues = 1 << 20)
        Thread.sleep(1500) // both attempts hold their memory now
        if (p == 0) {
          new ProcessBuilder("sh", "-c", s"kill -9 $pid").inheritIO().start().waitFor()
        }
        Thread.sleep(60000) // the executor dies first
        throw new IllegalStateException(s"executor $pid was not killed; held $held bytes")
      }
      val node = NativeMemory.currentTask().newNode("retry")
      node.reserve(nodeBytes)
      node.repay(nodeBytes)
      AttemptOutcome(p, ctx.attemptNumber(), SparkEnv.get.executorId, pid, nodeBytes)
    }.collect().toSeq

  /**
   * One task; its first attempt holds native memory of every kind and then sleeps until it is
   * killed (interrupted, as Spark kills the losing copy of a speculated task), never giving the
   * memory back. The retry holds nothing and reports itself.
   */
  def holdUntilKilled(sc: SparkContext, nodeBytes: Long): AttemptOutcome =
    sc.parallelize(Seq(0), 1).map { p =>
      val ctx = TaskContext.get()
      val held = if (ctx.attemptNumber() == 0) {
        val bytes = holdEverything("killed", nodeBytes, sorterKeys = 1L << 20, threads = 2,
          arrowValues = 1 << 20)
        Thread.sleep(120000) // until killed
        bytes
      } else 0L
      AttemptOutcome(p, ctx.attemptNumber(), SparkEnv.get.executorId,
        ProcessHandle.current().pid(), held)
    }.collect().head

  /**
   * Soak task `i` (seeded by `i`): a kind of native user picked by `i` (a node, the operator on
   * one or three native threads, Arrow vectors, all three) with random sizes up to tens of MiB,
   * and on its first attempt the fault [[SoakFault.of]] gives.
   */
  def soakTask(i: Int): SoakOutcome = {
    val attempt = TaskContext.get().attemptNumber()
    val fault = if (attempt == 0) SoakFault.of(i) else SoakFault.None
    val random = new Random(i)
    val task = NativeMemory.currentTask()
    if (fault == SoakFault.OverBudget) {
      val budget = NativeMemory.executor().quota().budget()
      try {
        task.newNode("greedy").reserve(budget + MiB)
        throw new IllegalStateException(s"a reservation of ${budget + MiB} bytes was admitted")
      } catch {
        case _: SparkOutOfMemoryError => return SoakOutcome(i, attempt, fault.toString, -1L)
      }
    }
    if (fault == SoakFault.Throws) {
      val held = holdEverything(s"failing-$i", (1 + random.nextInt(16)) * MiB,
        sorterKeys = 1024 + random.nextInt(65536), threads = 1 + random.nextInt(3),
        arrowValues = 1024 + random.nextInt(65536))
      throw new InjectedFault(s"soak task $i fails on purpose holding $held bytes")
    }
    val kind = i % 4
    var bytes = 0L
    if (kind == 0 || kind == 3) {
      val n = (1 + random.nextInt(32)) * MiB
      val node = task.newNode("soak-node")
      node.reserve(n)
      node.repay(n)
      bytes += n
    }
    if (kind == 1 || kind == 3) {
      val keys = 1024L + random.nextInt(200000)
      val sorter = new SampleSorter(SortOptions(recordBytes = 64,
        workerThreads = if (random.nextBoolean()) 1 else 3, batchKeys = 16384))
      try {
        sorter.addAll(Keys.iterator(i, 0, keys))
        bytes += keys * 64
        val outcome = sorter.finishAndDestroy()
        require(outcome.count == keys && outcome.ascending && outcome.poolUsedAfterDestroy == 0,
          s"soak task $i: $outcome")
      } finally {
        sorter.close()
      }
    }
    if (kind == 2 || kind == 3) {
      val allocator = ArrowAllocators.forCurrentTask("soak-arrow")
      val vectors = Seq.fill(1 + random.nextInt(4)) {
        val v = new BigIntVector("values", allocator)
        v.allocateNew(1024 + random.nextInt(1 << 20))
        v
      }
      bytes += vectors.map(_.getBufferSize.toLong).sum
      vectors.foreach(_.close())
      allocator.close()
    }
    if (fault == SoakFault.Leaks) {
      val n = (1 + random.nextInt(8)) * MiB
      task.newNode("soak-leak").reserve(n)
      bytes += n
    }
    SoakOutcome(i, attempt, fault.toString, bytes)
  }
}

package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.{ExecutorMemoryProbe, ExecutorProbe, JobGroupListener, Jobs, PluginSetup, SparkMaster, WithSpark}
import io.dynoffheap.sparktest.samplesort.SortOptions
import org.apache.spark.SparkException
import org.scalatest.funsuite.AnyFunSuite

/**
 * Dynamic sizing off: the static split users configure today, `spark.memory.offHeap.size=300m`
 * on a 1 GiB executor (`local-cluster[1,2,1024]`), with Spark's off-heap pool as the hard limit of
 * native memory. The same 600 MiB job that completes with dynamic sizing on fails here, cleanly:
 * the plugin's SparkOutOfMemoryError fails the task (each of its attempts), the job fails, and the
 * executor lives on.
 */
class StaticSplitClusterSuite extends AnyFunSuite with WithSpark {
  import DynamicSizingClusterSuite.{BigKeys, BigSeed, MiB}

  override protected def sparkMaster: SparkMaster =
    SparkMaster.LocalCluster(workers = 1, coresPerWorker = 2, memoryPerWorkerMiB = 1024,
      executorMemoryMiB = 1024)

  private val Attempts = 3

  override protected def sparkConf: Map[String, String] = PluginSetup.asUsersDo ++ Map(
    PluginSetup.DynamicSizing -> "false",
    PluginSetup.OffHeapEnabled -> "true",
    PluginSetup.OffHeapSize -> "300m",
    "spark.task.maxFailures" -> Attempts.toString)

  private val listener = new JobGroupListener

  override protected def beforeAll(): Unit = {
    PluginSetup.pluginJar
    super.beforeAll()
    sc.addSparkListener(listener)
  }

  test("the 600 MiB job fails with the plugin's out-of-memory error; the executor stays alive") {
    val executorBefore = ExecutorProbe.run(sc, tasks = 2)
    val stateBefore = ExecutorMemoryProbe.single(sc)
    assert(!stateBefore.dynamicSizing && stateBefore.tungstenMemoryMode == "OFF_HEAP", stateBefore)

    val group = Jobs.newGroup("static-split-600m")
    val startNanos = System.nanoTime()
    val thrown = intercept[SparkException] {
      Jobs.run(sc, group, 240.seconds) {
        Scenarios.rddSort(sc, BigSeed, BigKeys, partitions = 1, SortOptions(recordBytes = 64))
      }
    }
    val seconds = (System.nanoTime() - startNanos) / 1e9
    val message = thrown.getMessage
    // Spark's error condition, raised by the plugin, with its explanation.
    assert(message.contains("SparkOutOfMemoryError"), message)
    assert(message.contains("UNABLE_TO_ACQUIRE_MEMORY"), message)
    assert(message.contains("/sample-sort"), message) // the node that asked
    assert(message.contains("Usage tree"), message)
    assert(message.contains("Spark's off-heap execution memory granted"), message)
    assert(message.contains("raise spark.memory.offHeap.size"), message) // the setting to change
    assert(message.contains(s"failed $Attempts times"), message)

    // Every attempt failed the same way, and the job ended: no hang, no lost executor.
    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksFailed == Attempts, metrics)
    assert(metrics.failureReasons.forall(_.contains("UNABLE_TO_ACQUIRE_MEMORY")), metrics)
    assert(seconds < 120, s"the failing job took $seconds s")

    val executorAfter = ExecutorProbe.run(sc, tasks = 2)
    assert(executorAfter.map(_.executorId).toSet == executorBefore.map(_.executorId).toSet)
    assert(executorAfter.map(_.pid).toSet == executorBefore.map(_.pid).toSet)
    val stateAfter = ExecutorMemoryProbe.single(sc)
    assert(stateAfter.nativeBytes == 0, stateAfter)
    assert(stateAfter.denied - stateBefore.denied >= Attempts, stateAfter)
    assert(stateAfter.leaks == stateBefore.leaks, stateAfter)
    info(f"failed after $seconds%.1f s; first lines of the error:%n" +
      message.linesIterator.take(12).mkString("\n"))
  }

  test("a denial on one of the operator's own threads fails the task the same way") {
    val group = Jobs.newGroup("static-split-600m-threads")
    val thrown = intercept[SparkException] {
      Jobs.run(sc, group, 240.seconds) {
        Scenarios.rddSort(sc, BigSeed, BigKeys, partitions = 1,
          SortOptions(recordBytes = 64, workerThreads = 4, batchKeys = 262144))
      }
    }
    assert(thrown.getMessage.contains("UNABLE_TO_ACQUIRE_MEMORY"), thrown.getMessage)
    assert(thrown.getMessage.contains("raise spark.memory.offHeap.size"), thrown.getMessage)
    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksFailed == Attempts, metrics)
    assert(metrics.failureReasons.forall(_.contains("SparkOutOfMemoryError")), metrics)
    val state = ExecutorMemoryProbe.single(sc)
    assert(state.nativeBytes == 0, state)
  }

  test("with spilling allowed the same job completes inside the 300 MiB split") {
    val group = Jobs.newGroup("static-split-600m-spill")
    val outcomes = Jobs.run(sc, group, 240.seconds) {
      Scenarios.rddSort(sc, BigSeed, BigKeys, partitions = 1,
        SortOptions(recordBytes = 64, allowSpill = true))
    }
    val o = outcomes.head.outcome
    assert(o.countAndChecksum == Scenarios.expected(BigSeed, 0, BigKeys), o)
    assert(o.ascending && o.payloadErrors == 0, o)
    // Denied at the limit, the operator spilled itself and retried.
    assert(o.spills >= 1, o)
    // Spark never granted more than its 300 MiB off-heap pool. The node's peak may show one
    // block more: TreeNode counts a request in its peak before the parent (Spark) denies it.
    assert(o.poolPeakBytes <= 300 * MiB + 8 * MiB, o)
    assert(o.poolUsedAfterDestroy == 0, o)
    assert(listener.awaitMetrics(group).tasksFailed == 0)
    val state = ExecutorMemoryProbe.single(sc)
    assert(state.nativeBytes == 0, state)
    info(s"${o.spills} spill(s) of ${o.spilledRecords} records; pool peak ${o.poolPeakBytes / MiB} MiB")
  }
}

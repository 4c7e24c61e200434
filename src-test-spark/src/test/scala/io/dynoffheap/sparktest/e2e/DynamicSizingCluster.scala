package io.dynoffheap.sparktest.e2e

import io.dynoffheap.sparktest.{ExecutorMemoryProbe, ExecutorMemorySnapshot, JobGroupListener, PluginSetup, SparkMaster, WithSpark}
import org.scalatest.Suite

/**
 * The session of the toggle-on suites: `local-cluster[1,2,1024]` with `spark.executor.memory=1g`,
 * i.e. one executor JVM with two task slots whose heap and native memory share one 1 GiB budget,
 * the plugin added as users add it (its jar in spark.jars, its class in spark.plugins) and
 * `spark.gluten.memory.dynamic.offHeap.sizing.enabled=true`.
 *
 * Suites mixing this in run every scenario in its own job group, read Spark's metrics of the group
 * from [[listener]], and check with [[assertNothingHeld]] that the executor holds no native memory
 * between scenarios, so a later test never inherits an earlier one's memory.
 */
trait DynamicSizingCluster extends WithSpark { self: Suite =>

  override protected def sparkMaster: SparkMaster =
    SparkMaster.LocalCluster(workers = 1, coresPerWorker = 2, memoryPerWorkerMiB = 1024,
      executorMemoryMiB = 1024)

  override protected def sparkConf: Map[String, String] = PluginSetup.asUsersDo ++ Map(
    PluginSetup.DynamicSizing -> "true",
    // A failure here is a bug: fail at once instead of retrying a big task three more times.
    "spark.task.maxFailures" -> "1",
    // With spark.testing set (as the harness must, for local-cluster), Spark reserves no system
    // memory and its unified pool is 60% of the whole heap. Reserve the 300 MiB it reserves in
    // production, so that the execution pool the spill scenarios compete for is the real one:
    // (1 GiB - 300 MiB) * 0.6 = 434 MiB.
    "spark.testing.reservedMemory" -> (300L << 20).toString)

  /** Spark's task metrics per job group of this session. */
  protected val listener = new JobGroupListener

  override protected def beforeAll(): Unit = {
    PluginSetup.pluginJar // fails the suite at once, with what to do, if the jar was not built
    super.beforeAll()
    sc.addSparkListener(listener)
  }

  /** The one executor's state, read by a task on it. */
  protected def executorState(): ExecutorMemorySnapshot = ExecutorMemoryProbe.single(sc)

  /** No task holds native memory: the tree counters and the quota are back to zero. */
  protected def assertNothingHeld(): ExecutorMemorySnapshot = {
    val s = executorState()
    assert(s.nativeBytes == 0, s)
    assert(s.quotaNativeBytes == 0, s)
    assert(s.openTasks == 0, s)
    s
  }
}

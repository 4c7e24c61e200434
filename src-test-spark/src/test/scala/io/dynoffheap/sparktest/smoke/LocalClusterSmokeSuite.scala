package io.dynoffheap.sparktest.smoke

import io.dynoffheap.sparktest.{ExecutorFacts, ExecutorProbe, SparkMaster, SparkSessions, WithSpark}
import org.scalatest.funsuite.AnyFunSuite

/**
 * `local-cluster[1,2,1024]` with `spark.executor.memory=1g`: one executor with 2 cores in its
 * own JVM, launched by an in-process standalone Worker.
 */
class LocalClusterSmokeSuite extends AnyFunSuite with WithSpark {

  private val MiB = 1024L * 1024L

  override protected def sparkMaster: SparkMaster =
    SparkMaster.LocalCluster(workers = 1, coresPerWorker = 2, memoryPerWorkerMiB = 1024,
      executorMemoryMiB = 1024)

  /** Executor JVMs seen by the tests; afterAll checks that none outlives the session. */
  @volatile private var executorPids = Set.empty[Long]

  private def probe(tasks: Int): Seq[ExecutorFacts] = {
    val facts = ExecutorProbe.run(sc, tasks)
    executorPids ++= facts.map(_.pid)
    facts
  }

  test("the session runs on local-cluster with one registered executor JVM") {
    assert(sc.master == "local-cluster[1,2,1024]")
    assert(SparkSessions.registeredExecutors(sc) == 1)
    val jvms = SparkSessions.executorJvms()
    assert(jvms.size == 1, s"executor JVMs: ${jvms.map(_.pid)}")
    executorPids ++= jvms.map(_.pid)
  }

  test("tasks run in a separate executor JVM, not in the driver") {
    val facts = probe(tasks = 4)
    val driverPid = ProcessHandle.current().pid()
    assert(facts.map(_.partitionId) == (0 until 4))
    assert(facts.map(_.executorId).distinct.size == 1)
    assert(facts.head.executorId != "driver")
    assert(facts.map(_.pid).distinct.size == 1)
    assert(facts.head.pid != driverPid)
    assert(SparkSessions.executorJvms().map(_.pid) == List(facts.head.pid),
      "the task's JVM must be the executor JVM that this test JVM started")
  }

  test("the executor's max heap is spark.executor.memory (1g)") {
    val facts = probe(tasks = 2)
    assert(facts.map(_.executorMemoryConf).toSet == Set(Some("1024m")))
    facts.foreach { f =>
      // -Xmx1024m; some collectors report a little less (one survivor space).
      assert(f.maxHeapBytes <= 1024 * MiB, s"maxMemory ${f.maxHeapBytes / MiB} MiB")
      assert(f.maxHeapBytes >= 900 * MiB, s"maxMemory ${f.maxHeapBytes / MiB} MiB")
    }
    // The driver's heap is the test JVM's (-Xmx2g), clearly not the executor's.
    assert(Runtime.getRuntime.maxMemory() > 1024 * MiB)
  }

  test("a second job is served by the same executor") {
    val first = probe(tasks = 4)
    val second = probe(tasks = 4)
    assert(first.head.stageId != second.head.stageId)
    assert(second.map(_.executorId).toSet == first.map(_.executorId).toSet)
    assert(second.map(_.pid).toSet == first.map(_.pid).toSet)
    assert(first.map(_.executorId).toSet.size == 1)
  }

  test("a SQL job with a shuffle runs on the executor") {
    val rows = spark.range(0, 100000, 1, 4)
      .selectExpr("id % 3 AS k", "id")
      .groupBy("k").count()
      .orderBy("k")
      .collect()
      .map(r => (r.getLong(0), r.getLong(1)))
      .toList
    assert(rows == List((0L, 33334L), (1L, 33333L), (2L, 33333L)))
  }

  override protected def afterAll(): Unit = {
    super.afterAll()
    val survivors = executorPids.filter { pid =>
      val handle = ProcessHandle.of(pid)
      handle.isPresent && handle.get.isAlive
    }
    assert(executorPids.nonEmpty, "the tests should have seen the executor JVM")
    assert(survivors.isEmpty, s"executor JVMs alive after the session stopped: $survivors")
    assert(SparkSessions.executorJvms().isEmpty)
  }
}

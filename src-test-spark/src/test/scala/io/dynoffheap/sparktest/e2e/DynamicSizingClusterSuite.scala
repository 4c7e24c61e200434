package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.{CapturedLog, Jobs, LogCapture, PluginSetup}
import io.dynoffheap.sparktest.samplesort.SortOptions
import org.scalatest.funsuite.AnyFunSuite

/**
 * Dynamic off-heap sizing on, on `local-cluster[1,2,1024]` with `spark.executor.memory=1g` (see
 * [[DynamicSizingCluster]]), together with the static off-heap settings a user may have left in
 * place, which the plugin must ignore. The sample native operator is the native code.
 *
 * One session serves every test; each test checks that the executor holds no native memory
 * afterwards, so a later test never inherits an earlier one's memory.
 */
class DynamicSizingClusterSuite extends AnyFunSuite with DynamicSizingCluster {
  import DynamicSizingClusterSuite._

  override protected def sparkConf: Map[String, String] = super.sparkConf ++ Map(
    // What a user who moves from the static split may leave behind: ignored, with a warning.
    PluginSetup.OffHeapEnabled -> "true",
    PluginSetup.OffHeapSize -> "300m")

  @volatile private var startLogs: Seq[CapturedLog] = Nil

  override protected def beforeAll(): Unit = {
    val capture = LogCapture.start()
    try super.beforeAll()
    finally {
      capture.close()
      startLogs = capture.events
    }
  }

  test("Spark's off-heap settings are ignored with one warning per key; Spark's off-heap is off") {
    val driverWarnings = startLogs.filter(e => e.logger == DriverLogger && e.level == "WARN")
    for (key <- Seq(PluginSetup.OffHeapEnabled, PluginSetup.OffHeapSize)) {
      val aboutKey = startLogs.filter(e => e.level == "WARN" && e.message.contains(key))
      assert(aboutKey.size == 1, s"warnings about $key: $aboutKey")
      assert(aboutKey.head.logger == DriverLogger, aboutKey)
      assert(aboutKey.head.message.contains("is ignored"), aboutKey)
      assert(aboutKey.head.message.contains(PluginSetup.DynamicSizing), aboutKey)
    }
    assert(driverWarnings.size == 2, driverWarnings)
    // The capture worked: the plan the driver logs at INFO is there too.
    assert(startLogs.exists(e => e.logger == DriverLogger && e.message.contains("budget")),
      startLogs.filter(_.logger.startsWith("io.dynoffheap")))

    val s = executorState()
    assert(s.dynamicSizing, s)
    assert(s.offHeapEnabledConf.contains("false"), s)
    assert(s.tungstenMemoryMode == "ON_HEAP", s)
    // The budget is the executor's heap, -Xmx1g (some collectors report a little less).
    assert(s.budget > 900 * MiB && s.budget <= 1024 * MiB, s)
  }

  test("a 600 MiB native working set in one task completes; the result equals the JVM's sort") {
    val before = assertNothingHeld()
    val group = Jobs.newGroup("big-native-sort")
    val (outcomes, millis) = Jobs.timed {
      Jobs.run(sc, group, 300.seconds) {
        Scenarios.rddSort(sc, BigSeed, BigKeys, partitions = 1, SortOptions(recordBytes = 64))
      }
    }
    val expected = Scenarios.expected(BigSeed, 0, BigKeys)
    assert(outcomes.size == 1)
    val o = outcomes.head.outcome
    assert(o.countAndChecksum == expected, o)
    assert(o.ascending && o.payloadErrors == 0, o)
    assert(o.spills == 0, o)
    // The records alone are 600 MiB, twice the static split a user would give off-heap memory.
    assert(o.poolPeakBytes >= BigKeys * 64, o)
    assert(o.poolUsedAfterDestroy == 0, o)
    val after = assertNothingHeld()
    assert(after.quotaPeakNativeBytes >= BigKeys * 64, after)
    assert(after.denied == before.denied, after)
    assert(listener.awaitMetrics(group).tasksFailed == 0)
    info(s"600 MiB sort: ${millis} ms, pool peak ${o.poolPeakBytes / MiB} MiB, committed heap " +
      s"now ${after.committedHeap / MiB} MiB, GC episodes ${after.gcEpisodes - before.gcEpisodes}")
  }

  test("after the heap grew, native demand gets room from one GC episode that shrinks the heap") {
    val before = assertNothingHeld()
    val group = Jobs.newGroup("heap-then-native")
    val result = Jobs.run(sc, group, 300.seconds) {
      Scenarios.sortAfterHeapGrowth(sc, BigSeed, BigKeys, ballastMiB = 640,
        SortOptions(recordBytes = 64))
    }
    val o = result.outcome
    // The heap left too little room: committed heap + 600 MiB did not fit the budget.
    assert(result.committedAfterBallast + BigKeys * 64 > result.budget, result)
    assert(o.countAndChecksum == Scenarios.expected(BigSeed, 0, BigKeys), result)
    assert(o.payloadErrors == 0 && o.spills == 0 && o.poolUsedAfterDestroy == 0, result)
    assert(result.gcEpisodes >= 1, result)
    // The quota held: committed heap + native never went past the budget at admission.
    assert(result.committedAtEnd + o.poolPeakBytes <= result.budget, result)
    val after = assertNothingHeld()
    assert(after.denied == before.denied, after)
    info(s"committed heap ${result.committedAfterBallast / MiB} MiB after the garbage, " +
      s"${result.committedAtEnd / MiB} MiB at the end; ${result.gcEpisodes} GC episode(s); " +
      s"pool peak ${o.poolPeakBytes / MiB} MiB")
  }

  test("native demand makes Spark spill a SQL sort that holds memory in the same task") {
    assertNothingHeld()
    // Control: same sort, an operator that needs little: Spark does not spill the sort.
    val controlGroup = Jobs.newGroup("sql-sort-small-native")
    val control = Jobs.run(sc, controlGroup, 180.seconds) {
      Scenarios.sqlSortThenNative(spark, SortRows, SortOptions(recordBytes = 8))
    }
    val controlMetrics = listener.awaitMetrics(controlGroup)
    // The operator reads the sort's output, so its sorted keys hash like its input.
    assert(control.inputAscending && control.inputCount == SortRows, control)
    assert(control.operator.countAndChecksum == (control.inputCount, control.inputChecksum), control)
    assert(controlMetrics.memoryBytesSpilled == 0 && controlMetrics.diskBytesSpilled == 0,
      s"the control must not spill: $controlMetrics (sort held ${control.sortHeldBytes / MiB} MiB)")

    val group = Jobs.newGroup("sql-sort-big-native")
    val result = Jobs.run(sc, group, 180.seconds) {
      Scenarios.sqlSortThenNative(spark, SortRows, SortOptions(recordBytes = NativeRecordBytes))
    }
    val metrics = listener.awaitMetrics(group)
    assert(result.inputAscending && result.inputCount == SortRows, result)
    assert(result.operator.countAndChecksum == (result.inputCount, result.inputChecksum), result)
    assert(result.operator.payloadErrors == 0, result)
    assert(result.operator.poolPeakBytes >= SortRows * NativeRecordBytes, result)
    assert(metrics.tasksFailed == 0, metrics)
    assert(metrics.memoryBytesSpilled > 0, s"Spark did not spill the sort: $metrics")
    assert(metrics.diskBytesSpilled > 0, s"Spark did not spill the sort: $metrics")
    assertNothingHeld()
    info(s"sort held ${result.sortHeldBytes / MiB} MiB of execution memory; operator peak " +
      s"${result.operator.poolPeakBytes / MiB} MiB; Spark spilled ${metrics.memoryBytesSpilled / MiB}" +
      s" MiB from memory (${metrics.diskBytesSpilled / MiB} MiB on disk); control operator peak " +
      s"${control.operator.poolPeakBytes / MiB} MiB, nothing spilled")
  }

  test("a SQL sort that needs memory makes Spark spill the native operator of the same task") {
    val before = assertNothingHeld()
    val group = Jobs.newGroup("native-then-sql-sort")
    val result = Jobs.run(sc, group, 180.seconds) {
      Scenarios.nativeThenSqlSort(spark, seed = 21, nativeKeys = SortRows, rows = SortRows,
        SortOptions(recordBytes = NativeRecordBytes))
    }
    val metrics = listener.awaitMetrics(group)
    val o = result.operator
    // The operator held its records when the sort started, and had not spilled yet.
    assert(result.nativeHeldBytes >= SortRows * NativeRecordBytes, result)
    assert(result.spillsBeforeSort == 0, result)
    // The sort ran after that (lazily, inside the task) and got its memory by spilling the
    // operator through Spark: the operator's spill function was called and wrote a run.
    assert(o.spillRequests >= 1 && o.spills >= 1, result)
    assert(o.spilledRecords == SortRows, result)
    // What the spill gave back to Spark: nearly all the operator held (the pool keeps a block).
    assert(o.taskSpilledBytes >= SortRows * NativeRecordBytes * 9 / 10, result)
    // Both results are right.
    assert(o.countAndChecksum == Scenarios.expected(21, 0, SortRows), result)
    assert(o.payloadErrors == 0 && o.poolUsedAfterDestroy == 0, result)
    assert(result.rows == SortRows && result.rowsAscending, result)
    assert(metrics.tasksFailed == 0, metrics)
    val after = assertNothingHeld()
    assert(after.spilledBytes - before.spilledBytes >= o.taskSpilledBytes, after)
    info(s"operator held ${result.nativeHeldBytes / MiB} MiB, task had " +
      s"${result.taskMemoryBeforeSort / MiB} MiB of execution memory before the sort; " +
      s"${o.spills} spill(s), ${o.taskSpilledBytes / MiB} MiB freed by spills")
  }

  test("native threads started by the operator allocate for the task; accounting ends at 0") {
    assertNothingHeld()
    val keys = 3L * 1024 * 1024 // 3 Mi records of 64 B: 192 MiB
    val group = Jobs.newGroup("native-threads")
    val outcomes = Jobs.run(sc, group, 180.seconds) {
      Scenarios.rddSort(sc, seed = 31, keys, partitions = 1,
        SortOptions(recordBytes = 64, workerThreads = 4, batchKeys = 262144))
    }
    val o = outcomes.head.outcome
    assert(o.countAndChecksum == Scenarios.expected(31, 0, keys), o)
    assert(o.ascending && o.payloadErrors == 0, o)
    // Every 1 MiB chunk was allocated and filled by one of the operator's pthreads (192 of
    // them), so those threads also made the pool reserve its blocks from the JVM.
    assert(o.workerChunks == keys * 64 / (1L << 20), o)
    assert(o.poolPeakBytes >= keys * 64, o)
    assert(o.poolUsedAfterDestroy == 0, o)
    assert(listener.awaitMetrics(group).tasksFailed == 0)
    assertNothingHeld()
  }

  test("a leak is reported, and after 200 more tasks the executor tracks no native bytes") {
    val before = assertNothingHeld()
    val sorterKeys = 16384L // 1 MiB of records
    val nodeBytes = 3L * MiB
    Jobs.run(sc, Jobs.newGroup("leak"), 60.seconds) {
      Scenarios.leakingTask(sc, sorterKeys, nodeBytes)
    }
    val afterLeak = assertNothingHeld() // reported and force-released at task end
    // Two leaks: the pool (native allocations never freed) and the node (never repaid).
    assert(afterLeak.leaks - before.leaks == 2, afterLeak)
    assert(afterLeak.leakedBytes - before.leakedBytes >= sorterKeys * 64 + nodeBytes, afterLeak)

    val counts = Jobs.run(sc, Jobs.newGroup("200-tasks"), 180.seconds) {
      Scenarios.manySmallTasks(sc, tasks = 200, leakEvery = 10)
    }
    assert(counts.size == 200)
    assert(counts.count(_ == -1L) == 20)
    assert(counts.filter(_ != -1L).forall(_ == 3000L), counts)
    val after = assertNothingHeld()
    assert(after.leaks - afterLeak.leaks == 20, after)
    assert(after.granted - afterLeak.granted >= 200, after)
  }

  test("an RDD-only job and a SQL job both go through the quota") {
    val n = 400000L
    val options = SortOptions(recordBytes = 64)
    val before = assertNothingHeld()
    val rdd = Jobs.run(sc, Jobs.newGroup("rdd-through-quota"), 120.seconds) {
      Scenarios.rddSort(sc, seed = 41, n, partitions = 2, options)
    }
    val afterRdd = assertNothingHeld()
    val sql = Jobs.run(sc, Jobs.newGroup("sql-through-quota"), 120.seconds) {
      Scenarios.sqlSort(spark, seed = 41, n, partitions = 2, options)
    }
    val afterSql = assertNothingHeld()

    for ((name, outcomes) <- Seq("RDD" -> rdd, "SQL" -> sql)) {
      assert(outcomes.map(_.outcome.count).sum == n, name)
      outcomes.foreach { case SliceOutcome(first, o) =>
        assert(o.countAndChecksum == Scenarios.expected(41, first, o.count), s"$name $first")
      }
    }
    // Each job's reservations were admitted by the executor quota and all given back.
    assert(afterRdd.granted > before.granted, afterRdd)
    assert(afterSql.granted > afterRdd.granted, afterSql)
    for (o <- (rdd ++ sql).map(_.outcome)) {
      assert(o.poolPeakBytes >= o.count * 64 && o.poolUsedAfterDestroy == 0, o)
    }
    assert(afterSql.denied == before.denied, afterSql)
  }
}

object DynamicSizingClusterSuite {
  val MiB: Long = 1L << 20
  val DriverLogger = "io.dynoffheap.DriverSide"

  /** 600 MiB of 64-byte records. */
  val BigKeys: Long = 600L * MiB / 64
  val BigSeed = 11L

  /** Rows of the SQL sort in the spill scenarios, and the operator's record size there. */
  val SortRows: Long = 1200000L
  val NativeRecordBytes = 256
}

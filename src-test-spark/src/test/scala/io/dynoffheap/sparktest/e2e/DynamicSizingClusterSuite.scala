package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.{CapturedLog, ExecutorMemoryProbe, Jobs, LogCapture, PluginSetup}
import io.dynoffheap.sparktest.samplesort.SortOptions
import org.apache.spark.SparkException
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

  test("a task holding 70 % of the executor's memory natively while Spark aggregates in the same " +
      "task completes without a spill; asking for more than the budget fails only that task") {
    val before = assertNothingHeld()
    ExecutorMemoryProbe.settleHeap(sc)
    val nativeKeys = SeventyPercent / NativeRecordBytes
    val group = Jobs.newGroup("native-70-with-aggregation")
    val result = Jobs.run(sc, group, 300.seconds) {
      Scenarios.nativeWithAggregation(spark, seed = 51, nativeKeys, AggregatedRows, AggregatedGroups,
        SortOptions(recordBytes = NativeRecordBytes))
    }
    val o = result.operator
    // On main before this change, Spark's on-heap pool ((1 GiB - 300 MiB) x 0.6 = 434 MiB) was
    // where native memory stopped: the aggregation's first page was denied.
    assert(result.nativeHeldBytes >= SeventyPercent, result)
    assert(result.groups == AggregatedGroups && result.rowsCounted == AggregatedRows, result)
    assert(o.countAndChecksum == Scenarios.expected(51, 0, nativeKeys), result)
    assert(o.payloadErrors == 0 && o.poolUsedAfterDestroy == 0, result)
    assert(o.spills == 0 && o.spillRequests == 0, s"the budget had room, nothing to spill: $result")
    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksFailed == 0, metrics)
    assert(metrics.memoryBytesSpilled == 0, s"the aggregation did not spill either: $metrics")
    val afterFit = assertNothingHeld()
    assert(afterFit.denied == before.denied, afterFit)

    val tooMuch = intercept[SparkException] {
      Jobs.run(sc, Jobs.newGroup("native-over-budget"), 300.seconds) {
        Scenarios.nativeWithAggregation(spark, seed = 52, OverBudget / NativeRecordBytes,
          AggregatedRows, AggregatedGroups, SortOptions(recordBytes = NativeRecordBytes))
      }
    }
    val message = tooMuch.getMessage
    assert(message.contains("UNABLE_TO_ACQUIRE_MEMORY"), message)
    assert(message.contains("dynamic off-heap sizing could not admit"), message)
    assert(message.contains("sample-sort"), s"the usage tree names the pool: $message")
    assert(message.contains("spark.executor.memory"), message)
    val afterDenial = assertNothingHeld()
    assert(afterDenial.denied > afterFit.denied, afterDenial)
    // The executor lives and runs the next job.
    val next = Jobs.run(sc, Jobs.newGroup("after-over-budget"), 120.seconds) {
      Scenarios.rddSort(sc, seed = 53, 100000, partitions = 1, SortOptions(recordBytes = 64))
    }
    assert(next.head.outcome.countAndChecksum == Scenarios.expected(53, 0, 100000))
    assert(executorState().pid == before.pid, "the same executor JVM")
    info(s"native ${result.nativeHeldBytes / MiB} MiB held while ${result.groups} groups were " +
      s"aggregated in the same task; over budget: ${message.linesIterator.next().take(160)}")
  }

  test("native demand within the budget leaves a SQL sort of the same task in memory; when the " +
      "budget is short, Spark spills the sort for it") {
    assertNothingHeld()
    ExecutorMemoryProbe.settleHeap(sc)
    val roomGroup = Jobs.newGroup("sql-sort-native-with-room")
    val withRoom = Jobs.run(sc, roomGroup, 180.seconds) {
      Scenarios.sqlSortThenNative(spark, SortRows, SortOptions(recordBytes = NativeRecordBytes))
    }
    val roomMetrics = listener.awaitMetrics(roomGroup)
    assert(withRoom.inputAscending && withRoom.inputCount == SortRows, withRoom)
    assert(withRoom.operator.countAndChecksum == (withRoom.inputCount, withRoom.inputChecksum), withRoom)
    assert(withRoom.operator.poolPeakBytes >= SortRows * NativeRecordBytes, withRoom)
    // Native memory registered more than the pool had left next to the sort, and still the sort
    // was not made to spill: the quota had room.
    assert(roomMetrics.memoryBytesSpilled == 0 && roomMetrics.diskBytesSpilled == 0,
      s"the budget had room, the sort must not spill: $roomMetrics")
    assertNothingHeld()

    val shortGroup = Jobs.newGroup("sql-sort-native-budget-short")
    val short = Jobs.run(sc, shortGroup, 180.seconds) {
      Scenarios.sqlSortThenNative(spark, SortRows, SortOptions(recordBytes = BigNativeRecordBytes))
    }
    val shortMetrics = listener.awaitMetrics(shortGroup)
    assert(short.operator.countAndChecksum == (short.inputCount, short.inputChecksum), short)
    assert(short.operator.poolPeakBytes >= SortRows * BigNativeRecordBytes, short)
    assert(shortMetrics.tasksFailed == 0, shortMetrics)
    assert(shortMetrics.memoryBytesSpilled > 0 && shortMetrics.diskBytesSpilled > 0,
      s"heap + native did not fit the budget, Spark had to spill the sort: $shortMetrics")
    assertNothingHeld()
    info(s"with room: sort held ${withRoom.sortHeldBytes / MiB} MiB, operator peak " +
      s"${withRoom.operator.poolPeakBytes / MiB} MiB, nothing spilled; budget short: operator peak " +
      s"${short.operator.poolPeakBytes / MiB} MiB, Spark spilled ${shortMetrics.memoryBytesSpilled / MiB} MiB")
  }

  test("a SQL sort that needs memory gets it from the native operator's registration while the " +
      "budget has room; when live heap leaves none, Spark spills the operator") {
    val before = assertNothingHeld()
    ExecutorMemoryProbe.settleHeap(sc)
    val roomGroup = Jobs.newGroup("native-then-sql-sort-with-room")
    val withRoom = Jobs.run(sc, roomGroup, 180.seconds) {
      Scenarios.nativeThenSqlSort(spark, seed = 21, nativeKeys = SortRows, rows = SortRows,
        SortOptions(recordBytes = NativeRecordBytes))
    }
    assert(withRoom.nativeHeldBytes >= SortRows * NativeRecordBytes, withRoom)
    assert(withRoom.operator.spills == 0, s"the budget had room, no native spill: $withRoom")
    assert(withRoom.operator.countAndChecksum == Scenarios.expected(21, 0, SortRows), withRoom)
    assert(withRoom.rows == SortRows && withRoom.rowsAscending, withRoom)
    assert(listener.awaitMetrics(roomGroup).tasksFailed == 0)
    val afterRoom = assertNothingHeld()

    val shortGroup = Jobs.newGroup("native-then-sql-sort-budget-short")
    val result = Jobs.run(sc, shortGroup, 180.seconds) {
      Scenarios.nativeThenSqlSort(spark, seed = 22, nativeKeys = SortRows, rows = SortRows,
        SortOptions(recordBytes = NativeRecordBytes), ballastMiB = BallastMiB)
    }
    val metrics = listener.awaitMetrics(shortGroup)
    val o = result.operator
    assert(result.nativeHeldBytes >= SortRows * NativeRecordBytes, result)
    assert(result.spillsBeforeSort == 0, result)
    // The sort ran after that (lazily, inside the task) next to the live ballast; the budget had
    // no room for its pages, so Spark spilled the operator: its spill function wrote a run.
    assert(o.spillRequests >= 1 && o.spills >= 1, result)
    assert(o.taskSpilledBytes > 0, result)
    assert(o.countAndChecksum == Scenarios.expected(22, 0, SortRows), result)
    assert(o.payloadErrors == 0 && o.poolUsedAfterDestroy == 0, result)
    assert(result.rows == SortRows && result.rowsAscending, result)
    assert(metrics.tasksFailed == 0, metrics)
    val after = assertNothingHeld()
    assert(after.spilledBytes - afterRoom.spilledBytes >= o.taskSpilledBytes, after)
    assert(afterRoom.spilledBytes == before.spilledBytes, "nothing native spilled with room")
    info(s"with room: ${withRoom.nativeHeldBytes / MiB} MiB native, no spill; budget short " +
      s"(${BallastMiB} MiB live heap): ${o.spills} spill(s), ${o.taskSpilledBytes / MiB} MiB freed")
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
  /** A record size at which the operator's SortRows records (696 MiB) and the sort (about 220 MiB
   *  of pages, more of committed heap) no longer fit together, while the operator leaves the heap
   *  320 MiB once the sort has spilled. */
  val BigNativeRecordBytes = 608
  /** Live heap that leaves the budget no room for the sort next to the operator. */
  val BallastMiB = 480

  /** 70 % and 110 % of the 1 GiB executor memory, native; the aggregation next to them. */
  val SeventyPercent: Long = 1024L * MiB * 7 / 10
  val OverBudget: Long = 1024L * MiB * 11 / 10
  val AggregatedRows = 2000000L
  val AggregatedGroups = 250000L
}

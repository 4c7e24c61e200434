package io.dynoffheap.sparktest.e2e

import java.util.concurrent.atomic.{AtomicBoolean, AtomicLong}

import io.dynoffheap.NativeMemory
import io.dynoffheap.memory.SpillPhase
import io.dynoffheap.sparktest.samplesort.{Checksum, Keys, SampleSorter, SortOptions, SortOutcome, SparkInternals}
import org.apache.spark.{SparkContext, TaskContext}
import org.apache.spark.sql.{Encoders, Row, SparkSession}

/** A slice of a key data set sorted by one task: keys [first, first + outcome.count). */
final case class SliceOutcome(first: Long, outcome: SortOutcome)

/**
 * A SQL sort and the native operator in one task (the sort's output feeds the operator).
 *
 * @param sortHeldBytes execution memory Spark had granted to the task when the first sorted row
 *                      arrived, i.e. what the sort held before the operator allocated anything
 */
final case class SqlSortThenNative(
    operator: SortOutcome,
    inputCount: Long,
    inputChecksum: Long,
    inputAscending: Boolean,
    sortHeldBytes: Long)

/**
 * The native operator holding memory, then a SQL sort in the same task.
 *
 * @param nativeHeldBytes the operator's pool node before the sort ran
 * @param spillsBeforeSort the operator's spills before the sort ran
 * @param taskMemoryBeforeSort execution memory Spark had granted to the task before the sort ran
 */
final case class NativeThenSqlSort(
    operator: SortOutcome,
    nativeHeldBytes: Long,
    spillsBeforeSort: Long,
    taskMemoryBeforeSort: Long,
    rows: Long,
    rowsChecksum: Long,
    rowsAscending: Boolean)

/**
 * The operator's run after the task had filled the heap with garbage.
 *
 * @param committedAfterBallast the executor's committed heap once the garbage was dropped
 * @param gcEpisodes GC episodes of the executor's coordinator during the operator's run
 */
final case class AfterHeapGrowth(
    outcome: SortOutcome,
    committedAfterBallast: Long,
    committedAtEnd: Long,
    gcEpisodes: Long,
    budget: Long)

/**
 * The native operator holding memory while a SQL aggregation runs in the same task.
 *
 * @param nativeHeldBytes the operator's pool node while the aggregation ran
 * @param groups groups the aggregation produced; `groupsChecksum` their sum of counts
 * @param sparkSpilledBytes Spark's memoryBytesSpilled of the task, after the aggregation
 */
final case class NativeWithAggregation(
    operator: SortOutcome,
    nativeHeldBytes: Long,
    groups: Long,
    rowsCounted: Long,
    sparkSpilledBytes: Long)

/** What a task that spilled the operator from another thread saw. */
final case class ConcurrentSpills(outcome: SortOutcome, spillCalls: Long, freedByCalls: Long)

/**
 * Task-side code of the scenarios. Everything closures use lives here (never in a suite), so
 * closures capture only their arguments.
 */
object Scenarios {

  /** One task per slice; slice p sorts keys [p * perSlice, (p + 1) * perSlice) of `seed`. */
  def sortSlices(sc: SparkContext, seed: Long, slices: Int, perSlice: Long, distinct: Long,
      options: SortOptions): Seq[SliceOutcome] =
    sc.parallelize(0 until slices, slices).mapPartitions { it =>
      val p = it.next()
      val first = p * perSlice
      Iterator(SliceOutcome(first,
        SampleSorter.run(Keys.iterator(seed, first, first + perSlice, distinct), options)()))
    }.collect().toSeq

  /** The JVM's answer for a slice: count and checksum of its keys sorted with Arrays.sort. */
  def expected(seed: Long, first: Long, count: Long, distinct: Long = 0): (Long, Long) =
    Checksum.ofSorted(Keys.array(seed, first, first + count, distinct))

  /**
   * An RDD job that runs the operator over each partition's iterator: `sc.range(0, n)` mapped to
   * keys of `seed`.
   */
  def rddSort(sc: SparkContext, seed: Long, n: Long, partitions: Int,
      options: SortOptions): Seq[SliceOutcome] =
    sc.range(0, n, 1, partitions).mapPartitions { indexes =>
      val buffered = indexes.buffered
      if (!buffered.hasNext) Iterator.empty
      else {
        val first = buffered.head
        Iterator(SliceOutcome(first, SampleSorter.run(buffered.map(Keys.key(seed, _)), options)()))
      }
    }.collect().toSeq

  /** The same through SQL: `spark.range` and Dataset.mapPartitions. */
  def sqlSort(spark: SparkSession, seed: Long, n: Long, partitions: Int,
      options: SortOptions): Seq[SliceOutcome] =
    spark.range(0, n, 1, partitions).mapPartitions { (indexes: Iterator[java.lang.Long]) =>
      val buffered = indexes.map(_.longValue).buffered
      if (!buffered.hasNext) Iterator.empty
      else {
        val first = buffered.head
        Iterator(SliceOutcome(first, SampleSorter.run(buffered.map(Keys.key(seed, _)), options)()))
      }
    }(Encoders.product[SliceOutcome]).collect().toSeq

  /**
   * One task that first makes the heap grow (`ballastMiB` of arrays, touched, then dropped: the
   * JVM keeps the heap committed) and then runs the operator over `n` keys of `seed`.
   */
  def sortAfterHeapGrowth(sc: SparkContext, seed: Long, n: Long, ballastMiB: Int,
      options: SortOptions): AfterHeapGrowth =
    sc.parallelize(Seq(0), 1).map { _ =>
      val gc = NativeMemory.executor().gc()
      val quota = NativeMemory.executor().quota()
      var ballast = Array.fill(ballastMiB / 16)(new Array[Byte](16 << 20))
      ballast.foreach(java.util.Arrays.fill(_, 1.toByte))
      val committed = quota.committedHeap()
      ballast = null
      val episodesBefore = gc.completedEpisodes()
      val outcome = SampleSorter.run(Keys.iterator(seed, 0, n), options)()
      AfterHeapGrowth(outcome, committed, quota.committedHeap(),
        gc.completedEpisodes() - episodesBefore, quota.budget())
    }.collect().head

  /** Rows a SQL sort of `rows` rows (a long key and a 100-byte string) holds: one partition. */
  private def sortedRows(spark: SparkSession, rows: Long) =
    spark.range(0, rows, 1, 1)
      .selectExpr("xxhash64(id) AS k", "repeat('x', 100) AS pad")
      .sortWithinPartitions("k")

  /**
   * A SQL sort feeding the operator in the same task: the sort holds its in-memory records while
   * the operator reads them and allocates `rows * recordBytes` of native memory.
   */
  def sqlSortThenNative(spark: SparkSession, rows: Long, options: SortOptions): SqlSortThenNative =
    sortedRows(spark, rows).mapPartitions { (it: Iterator[Row]) =>
      val input = new Checksum
      var sortHeld = -1L
      val keys = it.map { row =>
        if (sortHeld < 0) sortHeld = SparkInternals.taskExecutionMemory()
        val k = row.getLong(0)
        input.add(k)
        k
      }
      val outcome = SampleSorter.run(keys, options)()
      Iterator(SqlSortThenNative(outcome, input.count, input.value, input.ascending, sortHeld))
    }(Encoders.product[SqlSortThenNative]).collect().head

  /**
   * The operator first holds `nativeKeys` keys of `seed` in memory (and the task keeps
   * `ballastMiB` of live heap arrays), then the task reads a SQL sort of `rows` rows (whole-stage
   * code generation runs the sort when its first row is asked for), then the operator finishes.
   */
  def nativeThenSqlSort(spark: SparkSession, seed: Long, nativeKeys: Long, rows: Long,
      options: SortOptions, ballastMiB: Int = 0): NativeThenSqlSort =
    sortedRows(spark, rows).mapPartitions { (it: Iterator[Row]) =>
      val sorter = new SampleSorter(options)
      try {
        sorter.addAll(Keys.iterator(seed, 0, nativeKeys))
        val held = sorter.pool.node().usedBytes()
        val spillsBefore = sorter.spills
        val taskMemoryBefore = SparkInternals.taskExecutionMemory()
        val ballast = Array.fill(ballastMiB / 16)(new Array[Byte](16 << 20))
        ballast.foreach(java.util.Arrays.fill(_, 1.toByte))
        val sortedKeys = new Checksum
        it.foreach(row => sortedKeys.add(row.getLong(0)))
        java.lang.ref.Reference.reachabilityFence(ballast) // live until the sort has run
        val outcome = sorter.finishAndDestroy()
        Iterator(NativeThenSqlSort(outcome, held, spillsBefore, taskMemoryBefore,
          sortedKeys.count, sortedKeys.value, sortedKeys.ascending))
      } finally {
        sorter.close()
      }
    }(Encoders.product[NativeThenSqlSort]).collect().head

  /**
   * One task: the operator first holds `nativeKeys` keys of `seed`, then the task reads a SQL
   * aggregation of `rows` rows into `groups` groups, whose final hash aggregation runs in this task
   * (all shuffle partitions coalesced into it) when its first row is asked for; then the operator
   * finishes.
   */
  def nativeWithAggregation(spark: SparkSession, seed: Long, nativeKeys: Long, rows: Long,
      groups: Long, options: SortOptions): NativeWithAggregation =
    spark.range(0, rows, 1, 2).selectExpr(s"id % $groups AS g").groupBy("g").count().coalesce(1)
      .mapPartitions { (it: Iterator[Row]) =>
        val sorter = new SampleSorter(options)
        try {
          sorter.addAll(Keys.iterator(seed, 0, nativeKeys))
          val held = sorter.pool.node().usedBytes()
          var groupsSeen = 0L
          var counted = 0L
          it.foreach { row =>
            groupsSeen += 1
            counted += row.getLong(1)
          }
          val spilled = TaskContext.get().taskMetrics().memoryBytesSpilled
          Iterator(NativeWithAggregation(sorter.finishAndDestroy(), held, groupsSeen, counted,
            spilled))
        } finally {
          sorter.close()
        }
      }(Encoders.product[NativeWithAggregation]).collect().head

  /**
   * One task: the keys are added in `segments` parts; after each part the task asks its tree to
   * spill the operator's pool node (as Spark would), so the operator writes a run each time.
   */
  def sortWithForcedSpills(sc: SparkContext, seed: Long, n: Long, segments: Int,
      options: SortOptions): SortOutcome =
    sc.parallelize(Seq(0), 1).map { _ =>
      val sorter = new SampleSorter(options)
      try {
        val per = n / segments
        for (s <- 0 until segments) {
          val until = if (s == segments - 1) n else (s + 1) * per
          sorter.addAll(Keys.iterator(seed, s * per, until))
          sorter.pool.node().spill(SpillPhase.SPILL, Long.MaxValue)
        }
        sorter.finishAndDestroy()
      } finally {
        sorter.close()
      }
    }.collect().head

  /**
   * One task adds keys in small batches while a JVM thread of the task keeps asking the
   * operator's pool node to spill: the operator either spills or (busy) answers 0.
   */
  def sortWithConcurrentSpills(sc: SparkContext, seed: Long, n: Long,
      options: SortOptions): ConcurrentSpills =
    sc.parallelize(Seq(0), 1).map { _ =>
      val sorter = new SampleSorter(options)
      val stop = new AtomicBoolean()
      val calls = new AtomicLong()
      val freed = new AtomicLong()
      val node = sorter.pool.node()
      val spiller = new Thread(() => {
        while (!stop.get()) {
          freed.addAndGet(node.spill(SpillPhase.SPILL, 1L << 20))
          calls.incrementAndGet()
          Thread.sleep(1)
        }
      }, "test-spill-requests")
      spiller.setDaemon(true)
      try {
        spiller.start()
        // Like an engine's task thread, do other work between batches (here: a short pause);
        // that is when a spill request can find the operator idle.
        var from = 0L
        while (from < n) {
          val until = math.min(n, from + options.batchKeys)
          sorter.addAll(Keys.iterator(seed, from, until))
          from = until
          Thread.sleep(1)
        }
        stop.set(true)
        spiller.join()
        ConcurrentSpills(sorter.finishAndDestroy(), calls.get(), freed.get())
      } finally {
        stop.set(true)
        spiller.join()
        sorter.close()
      }
    }.collect().head

  /**
   * One task that leaves native memory behind: an operator that is never destroyed (its pool
   * still holds `sorterKeys * 64` bytes) and a node reservation of `nodeBytes` never repaid.
   */
  def leakingTask(sc: SparkContext, sorterKeys: Long, nodeBytes: Long): Long =
    sc.parallelize(Seq(0), 1).map { _ =>
      val sorter = new SampleSorter(SortOptions(recordBytes = 64, poolName = "leaky-sort"))
      sorter.addAll(Keys.iterator(99, 0, sorterKeys))
      sorter.abandon()
      NativeMemory.currentTask().newNode("leaky-node").reserve(nodeBytes)
      TaskContext.get().taskAttemptId()
    }.collect().head

  /** `tasks` small tasks using native memory; every `leakEvery`-th one leaks its operator. */
  def manySmallTasks(sc: SparkContext, tasks: Int, leakEvery: Int): Seq[Long] =
    sc.parallelize(0 until tasks, tasks).map { i =>
      val sorter = new SampleSorter(SortOptions(recordBytes = 32, batchKeys = 1024))
      try {
        sorter.addAll(Keys.iterator(i, 0, 3000))
        if (i % leakEvery == 0) {
          sorter.abandon()
          -1L
        } else {
          sorter.finishAndDestroy().count
        }
      } finally {
        sorter.close()
      }
    }.collect().toSeq
}

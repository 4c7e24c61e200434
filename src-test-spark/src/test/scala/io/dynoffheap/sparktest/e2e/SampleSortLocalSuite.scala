package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.{ExecutorMemoryProbe, Jobs, PluginSetup, SparkMaster, WithSpark}
import io.dynoffheap.sparktest.samplesort.SortOptions
import org.apache.spark.SparkException
import org.scalatest.funsuite.AnyFunSuite

/**
 * The sample native operator in Spark tasks (`local[2]`, dynamic sizing on, leak check "fail"):
 * its results against the JVM's sort, its spills at any point of its input, concurrent spill
 * requests from another thread, and how its errors reach the task.
 */
class SampleSortLocalSuite extends AnyFunSuite with WithSpark {

  override protected def sparkMaster: SparkMaster = SparkMaster.Local(threads = 2)

  override protected def sparkConf: Map[String, String] = PluginSetup.inProcess ++ Map(
    PluginSetup.DynamicSizing -> "true",
    // Any native byte left reserved at task end fails the task here.
    "spark.dynoffheap.leakCheck" -> "fail")

  private val Timeout = 120.seconds

  private def afterTasksNothingIsHeld(): Unit = {
    val snapshot = ExecutorMemoryProbe.single(sc)
    assert(snapshot.nativeBytes == 0, snapshot)
    assert(snapshot.quotaNativeBytes == 0, snapshot)
    assert(snapshot.leaks == 0, snapshot)
  }

  test("sorted output equals the JVM's sort for several record sizes, duplicates and empty input") {
    val cases = Seq(
      // (record bytes, slices, keys per slice, distinct keys (0 = any), worker threads)
      (64, 2, 150000L, 0L, 1),
      (8, 2, 200000L, 0L, 1),
      (64, 2, 150000L, 100L, 1),
      (4096, 2, 3000L, 0L, 2),
      (24, 2, 100000L, 0L, 3),
      (64, 2, 0L, 0L, 1))
    Jobs.run(sc, Jobs.newGroup("shapes"), Timeout) {
      for ((recordBytes, slices, perSlice, distinct, threads) <- cases) {
        val options = SortOptions(recordBytes = recordBytes, workerThreads = threads,
          batchKeys = 20000)
        val outcomes = Scenarios.sortSlices(sc, seed = recordBytes.toLong, slices, perSlice,
          distinct, options)
        assert(outcomes.size == slices)
        outcomes.foreach { case SliceOutcome(first, o) =>
          val label = s"record $recordBytes B, distinct $distinct, slice at $first"
          assert(o.countAndChecksum ==
            Scenarios.expected(recordBytes.toLong, first, perSlice, distinct), label)
          assert(o.ascending, label)
          assert(o.payloadErrors == 0, label)
          assert(o.spills == 0, label)
          assert(o.poolUsedAfterDestroy == 0, label)
          if (perSlice > 0) {
            assert(o.poolPeakBytes >= perSlice * recordBytes, label)
          }
        }
      }
    }
    afterTasksNothingIsHeld()
  }

  test("spilling between batches: each spill writes a run and the merge is still right") {
    val n = 400000L
    val outcome = Jobs.run(sc, Jobs.newGroup("forced-spills"), Timeout) {
      Scenarios.sortWithForcedSpills(sc, seed = 5, n, segments = 6, SortOptions(recordBytes = 64))
    }
    assert(outcome.countAndChecksum == Scenarios.expected(5, 0, n))
    assert(outcome.spills >= 6, outcome)
    assert(outcome.spilledRecords == n, outcome)
    assert(outcome.spillRequests >= 6, outcome)
    assert(outcome.payloadErrors == 0, outcome)
    assert(outcome.poolUsedAfterDestroy == 0, outcome)
    afterTasksNothingIsHeld()
  }

  test("spill requests from another JVM thread during adds: spilled or refused, never blocked") {
    val n = 600000L
    val result = Jobs.run(sc, Jobs.newGroup("concurrent-spills"), Timeout) {
      Scenarios.sortWithConcurrentSpills(sc, seed = 6, n,
        SortOptions(recordBytes = 64, batchKeys = 5000, workerThreads = 2))
    }
    val o = result.outcome
    assert(o.countAndChecksum == Scenarios.expected(6, 0, n))
    assert(o.ascending && o.payloadErrors == 0, o)
    assert(result.spillCalls > 0)
    // Every request reached the operator, which either spilled or answered "busy".
    assert(o.spillRequests == result.spillCalls, result)
    assert(o.spills + o.busySpills <= o.spillRequests, result)
    assert(o.spills > 0, result)
    // (What a spill gives back to Spark is whole 8 MiB blocks only: with a few batches in
    // memory between requests, often nothing; so freedByCalls may be 0.)
    assert(o.poolUsedAfterDestroy == 0, o)
    info(s"${result.spillCalls} spill requests: ${o.spills} spilled, ${o.busySpills} busy, " +
      s"${result.freedByCalls} bytes freed")
    afterTasksNothingIsHeld()
  }

  test("a failing native call fails the task with the operator's error text") {
    val thrown = intercept[SparkException] {
      Jobs.run(sc, Jobs.newGroup("add-after-finish"), Timeout) {
        FailingCalls.addAfterFinish(sc)
      }
    }
    assert(thrown.getMessage.contains("samplesort_add failed"), thrown.getMessage)
    assert(thrown.getMessage.contains("the input has ended"), thrown.getMessage)
    afterTasksNothingIsHeld()
  }
}

/** Task code of the failing-call test. */
object FailingCalls {
  import io.dynoffheap.sparktest.samplesort.{Keys, SampleSorter}
  import org.apache.spark.SparkContext

  def addAfterFinish(sc: SparkContext): Long =
    sc.parallelize(Seq(0), 1).map { _ =>
      val sorter = new SampleSorter(SortOptions())
      try {
        sorter.addAll(Keys.iterator(1, 0, 10))
        sorter.sortedChecksum()
        sorter.addAll(Keys.iterator(1, 10, 20))
      } finally {
        sorter.close()
      }
    }.collect().head
}

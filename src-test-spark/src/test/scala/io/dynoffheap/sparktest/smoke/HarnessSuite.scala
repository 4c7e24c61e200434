package io.dynoffheap.sparktest.smoke

import scala.collection.mutable

import io.dynoffheap.sparktest.{ExecutorStartException, SparkMaster, SparkSessions, WithSpark}
import org.apache.spark.sql.SparkSession
import org.scalatest.{Args, DoNotDiscover, Reporter}
import org.scalatest.events.{Event, TestFailed, TestSucceeded}
import org.scalatest.funsuite.AnyFunSuite

/** The harness itself: sessions are always stopped, leftovers never leak into the next test. */
class HarnessSuite extends AnyFunSuite {
  import HarnessSuite._

  private def noSessionActive(): Boolean =
    SparkSession.getActiveSession.isEmpty && SparkSession.getDefaultSession.isEmpty

  test("withSession stops the session when the body throws") {
    var seen: SparkSession = null
    val thrown = intercept[IllegalStateException] {
      SparkSessions.withSession(SparkMaster.Local(), "throwing-body") { spark =>
        seen = spark
        assert(spark.range(5).count() == 5)
        throw new IllegalStateException("boom")
      }
    }
    assert(thrown.getMessage == "boom")
    assert(seen != null && seen.sparkContext.isStopped)
    assert(noSessionActive())
  }

  test("a failing WithSpark suite stops its session, and the next session starts") {
    val events = mutable.ArrayBuffer.empty[Event]
    val reporter = new Reporter {
      override def apply(event: Event): Unit = events.synchronized { events += event }
    }
    val failing = new FailingSuite
    val status = failing.run(None, Args(reporter))
    assert(!status.succeeds())
    assert(events.collect { case e: TestFailed => e.testName } == Seq("fails"))
    assert(events.collect { case e: TestSucceeded => e.testName } == Seq("uses spark"))
    assert(failing.seen != null && failing.seen.sparkContext.isStopped)
    assert(noSessionActive())

    SparkSessions.withSession(SparkMaster.Local(), "after-failing-suite") { spark =>
      assert(spark.range(10).count() == 10)
    }
  }

  test("a session left running is stopped before the next one starts, never reused") {
    val leaked = SparkSessions.start(SparkMaster.Local(threads = 1), "leaked")
    val next = SparkSessions.start(SparkMaster.Local(threads = 2), "next")
    try {
      assert(leaked.sparkContext.isStopped)
      assert(!next.sparkContext.isStopped)
      assert(next.sparkContext ne leaked.sparkContext)
      assert(next.sparkContext.master == "local[2]")
      assert(next.range(3).count() == 3)
    } finally {
      SparkSessions.stop(next)
    }
    assert(noSessionActive())
  }

  test("a SparkContext created outside the harness is not reused") {
    val outside = SparkSession.builder().master("local[1]").appName("outside").getOrCreate()
    SparkSession.clearActiveSession()
    SparkSession.clearDefaultSession()
    try {
      SparkSessions.withSession(SparkMaster.Local(threads = 2), "inside") { spark =>
        assert(outside.sparkContext.isStopped)
        assert(spark.sparkContext.master == "local[2]")
      }
    } finally {
      outside.stop()
    }
  }

  test("a local-cluster whose executor cannot fit in the Worker is rejected up front") {
    intercept[IllegalArgumentException] {
      SparkMaster.LocalCluster(memoryPerWorkerMiB = 512, executorMemoryMiB = 1024)
    }
    val thrown = intercept[IllegalArgumentException] {
      SparkSessions.start(SparkMaster.LocalCluster(), "too-big",
        Map("spark.executor.memory" -> "2g"))
    }
    assert(thrown.getMessage.contains("spark.executor.memory"))
    assert(noSessionActive())
    assert(SparkSessions.executorJvms().isEmpty)
  }

  test("executors that keep dying at start fail the start quickly, with their output") {
    val startNanos = System.nanoTime()
    val thrown = intercept[ExecutorStartException] {
      SparkSessions.start(SparkMaster.LocalCluster(), "executor-init-fails",
        Map("spark.plugins" -> classOf[ExecutorInitFailsPlugin].getName))
    }
    val seconds = (System.nanoTime() - startNanos) / 1e9
    assert(thrown.getMessage.contains("Executors keep exiting at start"))
    assert(thrown.getMessage.contains(ExecutorInitFailsPlugin.Message))
    assert(seconds < SparkSessions.DefaultExecutorStartTimeout.toSeconds / 2,
      s"took $seconds s: the crash loop was not detected")
    assert(noSessionActive())
    assert(SparkSessions.executorJvms().isEmpty)
  }

  test("expected executor count follows spark.executor.cores") {
    val cluster = SparkMaster.LocalCluster(workers = 2, coresPerWorker = 2,
      memoryPerWorkerMiB = 2048, executorMemoryMiB = 512)
    assert(cluster.expectedExecutors(cluster.defaultConf) == 2)
    assert(cluster.expectedExecutors(cluster.defaultConf + ("spark.executor.cores" -> "1")) == 4)
    assert(cluster.expectedExecutors(Map("spark.executor.cores" -> "1",
      "spark.executor.memory" -> "2g")) == 2)
  }
}

object HarnessSuite {

  /** Run by HarnessSuite only: its second test fails while the session is up. */
  @DoNotDiscover
  class FailingSuite extends AnyFunSuite with WithSpark {
    @volatile var seen: SparkSession = _

    test("uses spark") {
      seen = spark
      assert(spark.range(4).count() == 4)
    }

    test("fails") {
      fail("deliberate failure")
    }
  }
}

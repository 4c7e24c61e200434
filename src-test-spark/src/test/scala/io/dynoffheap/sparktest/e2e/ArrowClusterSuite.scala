package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.{ExecutorProbe, Jobs}
import org.apache.spark.SparkException
import org.scalatest.funsuite.AnyFunSuite

/**
 * Arrow Java vectors built in Spark tasks through the plugin's task-scoped allocators
 * (`io.dynoffheap.arrow.ArrowAllocators`), with dynamic off-heap sizing on, on
 * `local-cluster[1,2,1024]` with a 1 GiB executor ([[DynamicSizingCluster]]): Arrow buffers are
 * reserved against the same budget as the committed heap, and they compete with Spark's JVM-side
 * execution memory the way native memory does.
 *
 * Runs on the Arrow Java that each Spark line bundles (18.1.0 with Spark 4.0, 12.0.1 with 3.5).
 */
class ArrowClusterSuite extends AnyFunSuite with DynamicSizingCluster {
  import ArrowClusterSuite._

  test("executors run the Arrow Java version this Spark line bundles") {
    val expected = sys.props.getOrElse(ArrowVersionProperty, fail(
      s"system property $ArrowVersionProperty is not set (the Maven build sets it)"))
    val versions = ArrowScenarios.arrowVersions(sc)
    assert(versions == ArrowVersions(expected, expected))
    info(s"Arrow Java $expected")
  }

  test("Arrow batches of hundreds of MiB next to a SQL sort that holds memory in the same task " +
    "are not capped by Spark's pool; the data is right and nothing stays tracked") {
    val before = assertNothingHeld()
    val group = Jobs.newGroup("sql-sort-then-arrow")
    val (result, millis) = Jobs.timed {
      Jobs.run(sc, group, 180.seconds) {
        ArrowScenarios.sortThenArrow(spark, SortRows, BatchRows)
      }
    }
    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksFailed == 0, metrics)

    // The sort held its records when the first batch was built, and had not spilled.
    assert(result.sortHeldBytes >= 200 * MiB, result)
    assert(result.spilledBeforeArrow == 0, result)
    // The Arrow batches did not fit next to it in Spark's 434 MiB execution pool, and still got
    // their memory: the pool is not a cap, the budget is. Whether Spark spilled the sort for them
    // depends on whether heap + native reached the budget (the committed heap of this run);
    // DynamicSizingClusterSuite pins both cases. The task's native tree gave nothing up.
    assert(result.arrowBytes >= 300 * MiB, result)
    assert(result.sortHeldBytes + result.arrowBytes > ExecutionPoolBytes, result)
    assert(result.treeSpilledBytes == 0, result)
    assert(result.nodePeakBytes >= result.arrowBytes, result)

    // The vectors hold the sorted rows.
    val expected = ArrowRows.expectedChecksum(SortRows)
    assert(result.rows == SortRows, result)
    assert(result.batches == (SortRows + BatchRows - 1) / BatchRows, result)
    assert(result.checksum == expected.value, result)

    // Closed vectors gave their reservation back at once; at task end nothing is tracked and
    // nothing was reported as leaked.
    assert(result.nodeUsedAfterClose == 0, result)
    val after = assertNothingHeld()
    assert(after.leaks == before.leaks, after)
    assert(after.denied == before.denied, after)
    assert(after.quotaPeakNativeBytes >= result.arrowBytes, after)
    info(s"${millis} ms: the sort held ${result.sortHeldBytes / MiB} MiB; ${result.batches} Arrow " +
      s"batches of ${result.arrowBytes / MiB} MiB (node peak ${result.nodePeakBytes / MiB} MiB); " +
      s"Spark spilled ${metrics.memoryBytesSpilled / MiB} MiB of the sort " +
      s"(${metrics.diskBytesSpilled / MiB} MiB on disk); GC episodes " +
      s"${after.gcEpisodes - before.gcEpisodes}")
  }

  test("Arrow demand beyond the budget fails the task with the plugin's explanation; the " +
    "executor lives on and tracks nothing") {
    val executorBefore = ExecutorProbe.run(sc, tasks = 2)
    val before = assertNothingHeld()
    val group = Jobs.newGroup("arrow-beyond-budget")
    val (thrown, millis) = Jobs.timed {
      intercept[SparkException] {
        Jobs.run(sc, group, 180.seconds) {
          ArrowScenarios.arrowBeyondBudget(sc, "arrow-too-big", VectorValues, Vectors)
        }
      }
    }
    val message = thrown.getMessage
    // Arrow's own exception, raised by the plugin's listener, with the plugin's explanation:
    // what was asked, the budget's figures, the ladder tried, the usage tree, what to change.
    assert(message.contains("org.apache.arrow.memory.OutOfMemoryException"), message)
    assert(message.contains("Arrow could not allocate a buffer"), message)
    assert(message.contains("/arrow-too-big"), message)
    assert(message.contains("dynamic off-heap sizing could not admit"), message)
    // "N GC episode(s) …", or "no new GC episode: …" when an episode had just ended.
    assert(message.contains("GC episode"), message)
    assert(message.contains("Usage tree"), message)
    assert(message.contains("raise spark.executor.memory"), message)

    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksFailed == 1 && metrics.tasksSucceeded == 0, metrics)
    assert(metrics.failureReasons.forall(_.contains("OutOfMemoryException")), metrics)

    // The same executor JVM serves the next job; the task's reservations were all given back.
    val executorAfter = ExecutorProbe.run(sc, tasks = 2)
    assert(executorAfter.map(e => (e.executorId, e.pid)).toSet ==
      executorBefore.map(e => (e.executorId, e.pid)).toSet)
    val after = assertNothingHeld()
    assert(after.denied > before.denied, after)
    assert(after.gcEpisodes > before.gcEpisodes, after)
    assert(after.leaks == before.leaks, after)
    info(s"failed after $millis ms; first lines of the error:\n" +
      message.linesIterator.take(14).mkString("\n"))
  }
}

object ArrowClusterSuite {
  val MiB: Long = 1L << 20

  /** The Arrow version the build resolved for this Spark line (set by the Maven build). */
  val ArrowVersionProperty = "dynoffheap.arrow.version"

  /** Spark's execution pool on the 1 GiB executor: (1 GiB - 300 MiB) * 0.6. */
  val ExecutionPoolBytes: Long = (1024 - 300) * MiB * 6 / 10

  /** About 335 MiB of sort records (with Spark's pointer array), 380 MiB of Arrow batches. */
  val SortRows: Long = 1200000L
  val BatchRows = 65536

  /** 12 vectors of 128 MiB: 1.5 GiB of Arrow on a 1 GiB executor. */
  val VectorValues: Int = 16 * 1024 * 1024
  val Vectors = 12
}

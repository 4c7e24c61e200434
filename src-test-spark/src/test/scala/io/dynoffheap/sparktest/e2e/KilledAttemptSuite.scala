package io.dynoffheap.sparktest.e2e

import java.util.concurrent.ConcurrentLinkedQueue

import scala.collection.JavaConverters._
import scala.concurrent.{Await, ExecutionContext, Future}
import scala.concurrent.duration._

import io.dynoffheap.sparktest.Jobs
import org.apache.spark.scheduler.{SparkListener, SparkListenerTaskStart}
import org.scalatest.funsuite.AnyFunSuite

/**
 * A task attempt killed while it holds native memory of every kind (a node, the native operator's
 * pool filled by its own pthreads, an Arrow vector), killed the way Spark kills the losing copy
 * of a speculated task: `killTaskAttempt` with the thread interrupted. The attempt never gives its
 * memory back; the plugin must, at the attempt's end, with one leak report per resource, and the
 * retry must find the executor holding nothing.
 *
 * Speculation itself cannot run here: Spark never starts a speculative copy on a host where an
 * attempt of the task runs, and every executor of local-cluster is on one host. The kill is the
 * call Spark's scheduler makes for the losing copy.
 */
class KilledAttemptSuite extends AnyFunSuite with DynamicSizingCluster {
  import KilledAttemptSuite._

  private val starts = new ConcurrentLinkedQueue[SparkListenerTaskStart]()

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    sc.addSparkListener(new SparkListener {
      override def onTaskStart(start: SparkListenerTaskStart): Unit = starts.add(start)
    })
  }

  test("an attempt killed as Spark kills a speculative copy's loser, holding native memory: " +
    "the plugin releases it and reports each resource, the retry runs clean") {
    val before = assertNothingHeld()
    starts.clear()
    val group = Jobs.newGroup("killed-attempt")
    val job = Future {
      Jobs.run(sc, group, 180.seconds)(FaultScenarios.holdUntilKilled(sc, NodeBytes))
    }(ExecutionContext.global)

    // The first attempt has started and holds its memory (the probe runs on the other slot).
    val attempt = awaitTrue(60.seconds)(starts.asScala.find(_.taskInfo.attemptNumber == 0))
    val holding = awaitTrue(60.seconds)(
      Some(executorState()).filter(_.quotaNativeBytes >= NodeBytes))
    assert(holding.openTasks == 1 && holding.nativeBytes >= NodeBytes, holding)
    assert(sc.killTaskAttempt(attempt.taskInfo.taskId, interruptThread = true,
      reason = "another attempt succeeded"))

    val outcome = Await.result(job, 200.seconds)
    assert(outcome.attempt == 1 && outcome.heldBytes == 0, outcome)
    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksSucceeded == 1 && metrics.tasksFailed == 1, metrics)
    assert(metrics.failureReasons.head.contains("another attempt succeeded"), metrics)

    val after = assertNothingHeld()
    // One leak each: the node never repaid, the operator's pool never destroyed, the Arrow
    // allocator with its vector open.
    assert(after.leaks - before.leaks == 3, after)
    assert(after.leakedBytes - before.leakedBytes >= NodeBytes + (64L << 20) + (8L << 20), after)
    assert(after.denied == before.denied, after)
    info(s"killed attempt held ${holding.nativeBytes >> 20} MiB natively; after its kill the " +
      s"executor reported ${after.leaks - before.leaks} leaks of " +
      s"${(after.leakedBytes - before.leakedBytes) >> 20} MiB and holds ${after.nativeBytes} bytes")
  }

  /** Polls `probe` every 100 ms until it gives a value, failing after `timeout`. */
  private def awaitTrue[T](timeout: FiniteDuration)(probe: => Option[T]): T = {
    val deadline = timeout.fromNow
    var value = probe
    while (value.isEmpty && deadline.hasTimeLeft()) {
      Thread.sleep(100)
      value = probe
    }
    value.getOrElse(fail(s"not seen within $timeout"))
  }
}

object KilledAttemptSuite {
  val NodeBytes: Long = 64L << 20
}

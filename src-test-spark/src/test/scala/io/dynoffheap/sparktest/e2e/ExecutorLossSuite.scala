package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.Jobs
import org.scalatest.funsuite.AnyFunSuite

/**
 * An executor killed with SIGKILL (as the kernel's OOM killer or a container manager kills) while
 * both of its tasks hold native memory of every kind: a node, the native operator's pool filled
 * by its own pthreads, an Arrow vector. Nothing of the plugin runs at such a death; what must hold
 * is the driver's view (the tasks are lost with the executor and retried, the job completes, one
 * executor is left) and the replacement executor's: it starts with nothing held and no leak, and
 * the retries' reservations go through its quota and end at 0.
 */
class ExecutorLossSuite extends AnyFunSuite with DynamicSizingCluster {
  import ExecutorLossSuite._

  // The attempts lost with the executor are retried (each death counts as one failure).
  override protected def sparkConf: Map[String, String] =
    super.sparkConf ++ Map("spark.task.maxFailures" -> "4")

  test("an executor killed while its tasks hold native memory: the retries complete on the " +
    "replacement executor, which starts clean and ends with nothing held") {
    val first = assertNothingHeld()
    val group = Jobs.newGroup("executor-loss")
    val outcomes = Jobs.run(sc, group, 180.seconds) {
      FaultScenarios.killExecutorOnFirstAttempt(sc, NodeBytes)
    }
    val metrics = listener.awaitMetrics(group)

    // The driver's view: both first attempts were lost with the executor, the retries succeeded.
    assert(outcomes.map(_.partition) == Seq(0, 1), outcomes)
    assert(outcomes.forall(_.attempt >= 1), outcomes)
    assert(outcomes.forall(_.pid != first.pid), s"retries ran in the killed JVM: $outcomes")
    assert(metrics.tasksSucceeded == 2, metrics)
    assert(metrics.tasksFailed >= 2, metrics)
    assert(metrics.failureReasons.forall(_.contains("ExecutorLostFailure")), metrics)
    val executors = sc.statusTracker.getExecutorInfos.length - 1 // without the driver
    assert(executors == 1, s"$executors executors after the loss")

    // The replacement executor: a new JVM that holds nothing, leaked nothing, and admitted the
    // retries' reservations.
    val replacement = assertNothingHeld()
    assert(replacement.pid != first.pid && replacement.executorId != first.executorId, replacement)
    assert(replacement.leaks == 0 && replacement.leakedBytes == 0, replacement)
    assert(replacement.granted >= 2 && replacement.quotaPeakNativeBytes >= NodeBytes, replacement)
    info(s"executor ${first.executorId} (pid ${first.pid}) killed; ${metrics.tasksFailed} " +
      s"attempts lost with it; retries on executor ${replacement.executorId} (pid " +
      s"${replacement.pid}), which ends with ${replacement.nativeBytes} native bytes and " +
      s"${replacement.leaks} leaks")
  }
}

object ExecutorLossSuite {
  val NodeBytes: Long = 128L << 20
}

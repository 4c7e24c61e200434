package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._

import io.dynoffheap.sparktest.Jobs
import org.scalatest.funsuite.AnyFunSuite

/**
 * A soak of [[SoakSuite.Tasks]] tasks on the 1 GiB executor of [[DynamicSizingCluster]], two at a
 * time: nodes, the native operator on one or three of its own pthreads, Arrow vectors, and all
 * three in one task, with random sizes, and faults injected on first attempts ([[SoakFault]]):
 * attempts that throw while holding memory of every kind (retried), tasks that leak a
 * reservation, requests above the budget (denied; the task goes on).
 *
 * What is pinned: every task completes, the executor ends holding nothing, the leaks reported are
 * exactly those injected, and the quota never admitted more native memory than the budget.
 */
class SoakSuite extends AnyFunSuite with DynamicSizingCluster {
  import SoakSuite._

  // The attempts that throw on purpose are retried once.
  override protected def sparkConf: Map[String, String] =
    super.sparkConf ++ Map("spark.task.maxFailures" -> "2")

  test(s"$Tasks tasks mixing nodes, pools, native threads and Arrow with injected faults: every " +
    "counter ends at 0 and the quota never exceeds the budget") {
    val before = assertNothingHeld()
    val group = Jobs.newGroup("soak")
    val (outcomes, millis) = Jobs.timed {
      Jobs.run(sc, group, 300.seconds) {
        sc.parallelize(0 until Tasks, Tasks).map(FaultScenarios.soakTask).collect().toSeq
      }
    }
    val metrics = listener.awaitMetrics(group)
    val after = assertNothingHeld()

    val faults = (0 until Tasks).groupBy(SoakFault.of).map { case (f, ts) => f -> ts.size }
    assert(outcomes.map(_.task) == (0 until Tasks), "every task, once, in order")
    assert(metrics.tasksSucceeded == Tasks, metrics)
    assert(metrics.tasksFailed == faults(SoakFault.Throws), metrics)
    assert(metrics.failureReasons.forall(_.contains(classOf[InjectedFault].getName)), metrics)
    assert(outcomes.filter(_.attempt == 1).map(_.task) ==
      (0 until Tasks).filter(SoakFault.of(_) == SoakFault.Throws), "the failed ones retried")
    assert(outcomes.count(_.bytes < 0) == faults(SoakFault.OverBudget), outcomes.filter(_.bytes < 0))
    assert(after.denied - before.denied >= faults(SoakFault.OverBudget), after)

    // A thrown attempt leaks its node, its operator's pool and its Arrow allocator; a leaking task
    // its node. Nothing else may leak.
    val injectedLeaks = 3 * faults(SoakFault.Throws) + faults(SoakFault.Leaks)
    assert(after.leaks - before.leaks == injectedLeaks, after)
    assert(after.quotaPeakNativeBytes <= after.budget, after)
    assert(after.nativeBytes == 0 && after.quotaNativeBytes == 0 && after.openTasks == 0, after)

    val bytes = outcomes.map(_.bytes).filter(_ > 0).sum
    info(s"$Tasks tasks in $millis ms: ${bytes >> 20} MiB reserved and used; faults injected: " +
      s"${faults(SoakFault.Throws)} attempts thrown holding memory (retried), " +
      s"${faults(SoakFault.Leaks)} leaks, ${faults(SoakFault.OverBudget)} requests over the " +
      s"budget; ${after.leaks - before.leaks} leaks reported " +
      s"(${(after.leakedBytes - before.leakedBytes) >> 20} MiB released); quota peak " +
      s"${after.quotaPeakNativeBytes >> 20} MiB of ${after.budget >> 20} MiB; bytes left: " +
      s"${after.nativeBytes} native, ${after.quotaNativeBytes} in the quota")
  }
}

object SoakSuite {
  val Tasks = 1000
}

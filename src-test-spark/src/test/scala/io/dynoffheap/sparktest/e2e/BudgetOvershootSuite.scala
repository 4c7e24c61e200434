package io.dynoffheap.sparktest.e2e

import scala.concurrent.duration._
import scala.util.Random

import io.dynoffheap.NativeMemory
import io.dynoffheap.sparktest.Jobs
import org.apache.spark.memory.SparkOutOfMemoryError
import org.scalatest.funsuite.AnyFunSuite

/**
 * The budget between admissions: on the 1 GiB executor of [[DynamicSizingCluster]], 200 tasks
 * each reserve a random 1–200 MiB natively and then fill the heap with a random 1–100 MiB of
 * live arrays, so the JVM grows its heap after native memory was admitted, which no admission
 * sees. Committed heap + native may then pass the budget; the executor's heap watch measures by
 * how much and for how long, and starts shared GC episodes that let the heap shrink
 * (`spark.dynoffheap.gc.heapWatch.enabled`, on by default; the system property
 * `dynoffheap.heapWatch=false` runs this suite with the watch measuring only, for the figures of
 * docs/benchmarks.md).
 *
 * What is pinned: the job completes (a reservation the budget cannot admit fails its own
 * attempt cleanly and is counted, never the executor), the excess never reaches the container's
 * overhead (max(384 MiB, 10 % of the executor memory), what YARN and Kubernetes add), and the
 * executor ends holding nothing. How large the excess was is printed, not asserted: it depends on
 * the JVM's heap sizing and the machine's load.
 */
class BudgetOvershootSuite extends AnyFunSuite with DynamicSizingCluster {
  import BudgetOvershootSuite._

  override protected def sparkConf: Map[String, String] = super.sparkConf ++ Map(
    "spark.dynoffheap.gc.heapWatch.enabled" -> sys.props.getOrElse(HeapWatchProperty, "true"))

  test("heap growth after native admissions stays below the container's overhead, and the " +
    "executor ends holding nothing") {
    val before = assertNothingHeld()
    val group = Jobs.newGroup("budget-overshoot")
    val (outcomes, millis) = Jobs.timed {
      Jobs.run(sc, group, 300.seconds) {
        sc.parallelize(0 until Tasks, Tasks).map(i => nativeThenHeap(i)).collect().toSeq
      }
    }
    val metrics = listener.awaitMetrics(group)
    assert(metrics.tasksFailed == 0, metrics)
    assert(outcomes.size == Tasks)

    val after = assertNothingHeld()
    assert(after.leaks == before.leaks, after)
    assert(after.budget == 1024 * MiB, after)
    assert(after.overshootPeakBytes < ContainerOverheadBytes, after)
    val denials = outcomes.count(_ < 0)
    info(s"$millis ms, $Tasks tasks (${denials} reservation(s) denied), heap watch " +
      s"${sys.props.getOrElse(HeapWatchProperty, "true")}: heap + native over the budget by at " +
      s"most ${after.overshootPeakBytes / MiB} MiB " +
      f"(${100.0 * after.overshootPeakBytes / after.budget}%.1f %% of it), " +
      s"${after.overshootNanos / 1000000} ms above it in ${after.overshootExcursions} " +
      s"excursion(s); ${after.gcEpisodes - before.gcEpisodes} GC episode(s); quota peak " +
      s"${after.quotaPeakNativeBytes / MiB} MiB")
  }
}

object BudgetOvershootSuite {
  val MiB: Long = 1L << 20
  val Tasks = 200

  /** What YARN and Kubernetes add to a 1 GiB executor's heap for its container. */
  val ContainerOverheadBytes: Long = 384 * MiB

  /** Set to false to run the suite with the heap watch measuring only. */
  val HeapWatchProperty = "dynoffheap.heapWatch"

  /**
   * Task `i`: reserves 1–200 MiB natively, then allocates 1–100 MiB of heap arrays while it
   * holds them, touches both, and gives the reservation back. Returns the bytes touched, or -1
   * when the budget could not admit the reservation (the attempt's own, clean failure).
   */
  def nativeThenHeap(i: Int): Long = {
    val random = new Random(i)
    val nativeBytes = (1 + random.nextInt(200)) * MiB
    val heapArrays = 1 + random.nextInt(100)
    val node = NativeMemory.currentTask().newNode("stress-" + i)
    try {
      node.reserve(nativeBytes)
    } catch {
      case _: SparkOutOfMemoryError => return -1L
    }
    try {
      val arrays = Array.fill(heapArrays)(new Array[Byte](MiB.toInt))
      arrays.foreach(a => a(random.nextInt(a.length)) = 1)
      arrays.map(_.sum.toLong).sum + nativeBytes
    } finally {
      node.repay(nativeBytes)
    }
  }
}

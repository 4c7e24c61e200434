package io.dynoffheap.sparktest

import java.util.concurrent.atomic.AtomicLong

import scala.collection.mutable
import scala.concurrent.{Await, ExecutionContext, Future, TimeoutException}
import scala.concurrent.duration._
import scala.util.control.NonFatal

import org.apache.spark.{SparkContext, Success => TaskSuccess}
import org.apache.spark.scheduler.{SparkListener, SparkListenerJobEnd, SparkListenerJobStart, SparkListenerStageSubmitted, SparkListenerTaskEnd}

/** What the tasks of one group of jobs reported to the driver. */
final case class JobGroupMetrics(
    group: String,
    jobs: Int,
    jobsFinished: Int,
    tasksSucceeded: Int,
    tasksFailed: Int,
    memoryBytesSpilled: Long,
    diskBytesSpilled: Long,
    failureReasons: Seq[String])

/**
 * A listener that sums task metrics per job group: the suites run every job of a scenario in its
 * own group (see [[Jobs.run]]) and then read how much Spark spilled in it.
 */
final class JobGroupListener extends SparkListener {
  private val GroupKey = "spark.jobGroup.id"
  private val stageGroups = mutable.Map.empty[Int, String]
  private val jobGroups = mutable.Map.empty[Int, String]
  private val finishedJobs = mutable.Set.empty[Int]
  private val metrics = mutable.Map.empty[String, JobGroupMetrics]

  private def update(group: String)(f: JobGroupMetrics => JobGroupMetrics): Unit = {
    val current = metrics.getOrElse(group, JobGroupMetrics(group, 0, 0, 0, 0, 0, 0, Nil))
    metrics(group) = f(current)
  }

  override def onJobStart(jobStart: SparkListenerJobStart): Unit = synchronized {
    Option(jobStart.properties).flatMap(p => Option(p.getProperty(GroupKey))).foreach { group =>
      jobGroups(jobStart.jobId) = group
      jobStart.stageIds.foreach(stageGroups(_) = group)
      update(group)(m => m.copy(jobs = m.jobs + 1))
    }
  }

  override def onStageSubmitted(stage: SparkListenerStageSubmitted): Unit = synchronized {
    Option(stage.properties).flatMap(p => Option(p.getProperty(GroupKey))).foreach { group =>
      stageGroups(stage.stageInfo.stageId) = group
    }
  }

  override def onTaskEnd(taskEnd: SparkListenerTaskEnd): Unit = synchronized {
    stageGroups.get(taskEnd.stageId).foreach { group =>
      val tm = Option(taskEnd.taskMetrics)
      val mem = tm.map(_.memoryBytesSpilled).getOrElse(0L)
      val disk = tm.map(_.diskBytesSpilled).getOrElse(0L)
      update(group) { m =>
        taskEnd.reason match {
          case TaskSuccess =>
            m.copy(tasksSucceeded = m.tasksSucceeded + 1,
              memoryBytesSpilled = m.memoryBytesSpilled + mem,
              diskBytesSpilled = m.diskBytesSpilled + disk)
          case other =>
            m.copy(tasksFailed = m.tasksFailed + 1,
              memoryBytesSpilled = m.memoryBytesSpilled + mem,
              diskBytesSpilled = m.diskBytesSpilled + disk,
              failureReasons = m.failureReasons :+ other.toString)
        }
      }
    }
  }

  override def onJobEnd(jobEnd: SparkListenerJobEnd): Unit = synchronized {
    jobGroups.get(jobEnd.jobId).foreach { group =>
      finishedJobs += jobEnd.jobId
      update(group)(m => m.copy(jobsFinished = m.jobsFinished + 1))
    }
  }

  def metricsOf(group: String): JobGroupMetrics = synchronized {
    metrics.getOrElse(group, JobGroupMetrics(group, 0, 0, 0, 0, 0, 0, Nil))
  }

  /**
   * The group's metrics once the listener has seen every job of the group end (Spark posts a
   * job's task ends before its job end), waiting up to `timeout` for the listener bus.
   */
  def awaitMetrics(group: String, timeout: FiniteDuration = 20.seconds): JobGroupMetrics = {
    val deadline = timeout.fromNow
    var m = metricsOf(group)
    while ((m.jobs == 0 || m.jobsFinished < m.jobs) && deadline.hasTimeLeft()) {
      Thread.sleep(20)
      m = metricsOf(group)
    }
    if (m.jobs == 0 || m.jobsFinished < m.jobs) {
      throw new TimeoutException(s"listener did not see the jobs of group $group end: $m")
    }
    m
  }
}

/** Runs jobs with a time limit, each scenario in its own job group. */
object Jobs {
  private val groups = new AtomicLong()

  /** A new job group id, readable in logs. */
  def newGroup(name: String): String = s"${name.replaceAll("[^A-Za-z0-9]+", "-")}-${groups.incrementAndGet()}"

  /**
   * Runs `body` (which submits Spark jobs) on a separate thread with job group `group` set; if it
   * does not return within `timeout`, the group's jobs are cancelled and a TimeoutException is
   * thrown. Returns what `body` returns or throws what it throws.
   */
  def run[T](sc: SparkContext, group: String, timeout: FiniteDuration)(body: => T): T = {
    implicit val ec: ExecutionContext = ExecutionContext.global
    val future = Future {
      sc.setJobGroup(group, group, interruptOnCancel = true)
      try body
      finally sc.clearJobGroup()
    }
    try Await.result(future, timeout)
    catch {
      case e: TimeoutException =>
        try sc.cancelJobGroup(group) catch { case NonFatal(c) => e.addSuppressed(c) }
        throw new TimeoutException(s"jobs of group $group did not finish within $timeout; " +
          "they were cancelled")
    }
  }

  /** Milliseconds `body` took, with its result. */
  def timed[T](body: => T): (T, Long) = {
    val start = System.nanoTime()
    val result = body
    (result, (System.nanoTime() - start) / 1000000)
  }
}

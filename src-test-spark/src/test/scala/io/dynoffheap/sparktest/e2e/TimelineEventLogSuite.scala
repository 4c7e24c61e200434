package io.dynoffheap.sparktest.e2e

import java.nio.file.Files
import javax.imageio.ImageIO

import scala.collection.JavaConverters._

import io.dynoffheap.NativeMemory
import io.dynoffheap.sparktest.{PluginSetup, SparkMaster, SparkSessions}
import io.dynoffheap.timeline.{EventLogReader, RenderTimelines}
import org.scalatest.funsuite.AnyFunSuite

/**
 * The executors' memory timelines travel with the application: on `local-cluster[1,2,1024]` with
 * dynamic sizing and Spark's event log on (as this Spark line writes it by default: one JSON file
 * on 3.5, rolling zstd parts on 4.x), a task holds native memory for a while; once the session
 * has stopped, the event log has the plugin's events with the executor's samples, and the
 * command draws them.
 */
class TimelineEventLogSuite extends AnyFunSuite {
  import TimelineEventLogSuite._

  test("the event log holds the executor's memory timeline, native bytes included; it is drawn") {
    val logDir = Files.createTempDirectory(SparkSessions.testHome.toPath, "event-log")
    val conf = PluginSetup.asUsersDo ++ Map(
      PluginSetup.DynamicSizing -> "true",
      "spark.eventLog.enabled" -> "true",
      "spark.eventLog.dir" -> logDir.toUri.toString,
      "spark.dynoffheap.timeline.eventLog.interval" -> "50ms")
    val master = SparkMaster.LocalCluster(workers = 1, coresPerWorker = 2, memoryPerWorkerMiB = 1024,
      executorMemoryMiB = 1024)
    val appId = SparkSessions.withSession(master, "timeline-event-log", conf) { spark =>
      val held = spark.sparkContext.parallelize(Seq(1), 1).map { _ =>
        val node = NativeMemory.currentTask().newNode("held-for-the-timeline")
        node.reserve(HeldBytes)
        Thread.sleep(1000) // twenty samples see it
        node.repay(HeldBytes)
        HeldBytes
      }.collect()
      assert(held.toSeq == Seq(HeldBytes))
      // A batch leaves the executor at 50 samples (2.5 s here): wait for the one with the task.
      Thread.sleep(4000)
      spark.sparkContext.applicationId
    }

    val apps = new EventLogReader().read(logDir).asScala
    assert(apps.map(_.appId()) == Seq(appId))
    val executors = apps.head.byExecutor().asScala
    assert(executors.keySet == Set("0"), executors.keySet)
    val samples = executors("0").asScala
    assert(samples.size >= 20, s"${samples.size} samples from executor 0")
    assert(samples.forall(_.budget > 512 * MiB), samples.head)
    assert(samples.forall(_.committedHeap > 0), samples.head)
    assert(samples.exists(_.nativeBytes >= HeldBytes), samples.map(_.nativeBytes).distinct)

    val out = logDir.resolve("drawn")
    val pages = RenderTimelines.render(logDir, out).asScala
    assert(pages == Seq(out.resolve(s"timeline-$appId.html")))
    val png = out.resolve(s"timeline-$appId-executor-0.png")
    assert(Files.readString(pages.head).contains(png.getFileName.toString))
    assert(ImageIO.read(png.toFile).getWidth > 0)
  }
}

object TimelineEventLogSuite {
  val MiB: Long = 1L << 20
  val HeldBytes: Long = 64 * MiB
}

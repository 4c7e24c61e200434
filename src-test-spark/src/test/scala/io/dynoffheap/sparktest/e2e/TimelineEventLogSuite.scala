package io.dynoffheap.sparktest.e2e

import java.io.File
import java.nio.charset.StandardCharsets
import java.nio.file.Files

import scala.collection.JavaConverters._

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import io.dynoffheap.NativeMemory
import io.dynoffheap.sparktest.{PluginSetup, SparkMaster, SparkSessions}
import io.dynoffheap.timeline.MemoryTimelineEvent
import org.scalatest.funsuite.AnyFunSuite

/**
 * The executors' memory timelines travel with the application: on `local-cluster[1,2,1024]` with
 * dynamic sizing and Spark's event log on, a task holds native memory for a while; once the
 * session has stopped, the event log has the plugin's events with the executor's samples.
 */
class TimelineEventLogSuite extends AnyFunSuite {
  import TimelineEventLogSuite._

  test("the event log holds the executor's memory timeline, native bytes included") {
    val logDir = Files.createTempDirectory(SparkSessions.testHome.toPath, "event-log").toFile
    val conf = PluginSetup.asUsersDo ++ Map(
      PluginSetup.DynamicSizing -> "true",
      "spark.eventLog.enabled" -> "true",
      "spark.eventLog.dir" -> logDir.toURI.toString,
      // One plain JSON file, as Spark 3.5 writes it by default (4.x: rolling, zstd).
      "spark.eventLog.rolling.enabled" -> "false",
      "spark.eventLog.compress" -> "false",
      "spark.dynoffheap.timeline.eventLog.interval" -> "50ms")
    val master = SparkMaster.LocalCluster(workers = 1, coresPerWorker = 2, memoryPerWorkerMiB = 1024,
      executorMemoryMiB = 1024)
    SparkSessions.withSession(master, "timeline-event-log", conf) { spark =>
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
    }

    val logs = logDir.listFiles().filter(_.isFile)
    assert(logs.length == 1, logs.toSeq)
    val events = timelineEvents(logs.head)
    assert(events.nonEmpty, s"no ${MemoryTimelineEvent.EVENT_NAME} in ${logs.head}")
    val samples = events.filter(_.get("executorId").asText() == "0")
      .flatMap(_.get("samples").elements().asScala)
    assert(samples.size >= 20, s"${samples.size} samples from executor 0")
    val times = samples.map(_.get("epochMs").asLong())
    assert(times == times.sorted, "samples arrive oldest first")
    assert(samples.forall(_.get("budget").asLong() > 512 * MiB), samples.head)
    assert(samples.forall(_.get("committedHeap").asLong() > 0), samples.head)
    assert(samples.exists(_.get("nativeBytes").asLong() >= HeldBytes),
      samples.map(_.get("nativeBytes").asLong()).distinct)
  }
}

object TimelineEventLogSuite {
  val MiB: Long = 1L << 20
  val HeldBytes: Long = 64 * MiB

  /** The plugin's events of an event log (one JSON object per line). */
  def timelineEvents(log: File): Seq[JsonNode] = {
    val mapper = new ObjectMapper()
    Files.readAllLines(log.toPath, StandardCharsets.UTF_8).asScala.toSeq
      .map(line => mapper.readTree(line))
      .filter(_.path("Event").asText() == MemoryTimelineEvent.EVENT_NAME)
  }
}

package io.dynoffheap.sparktest.e2e

import scala.annotation.tailrec

import io.dynoffheap.sparktest.{PluginSetup, SparkMaster, SparkSessions}
import org.apache.spark.sql.SparkSession
import org.scalatest.funsuite.AnyFunSuite

/**
 * A wrong configuration fails the application at start, on the driver, with a message that names
 * the key, the value and what is allowed, within seconds, and no executor is ever launched (so
 * none can be restarted in a loop).
 */
class BadConfigurationSuite extends AnyFunSuite {

  /** Starts a session that must fail; returns the messages of the failure's cause chain. */
  private def startFails(master: SparkMaster, conf: Map[String, String]): (String, Double) = {
    val startNanos = System.nanoTime()
    val thrown = intercept[Throwable] {
      val spark = SparkSessions.start(master, suiteName, conf)
      SparkSessions.stop(spark) // only reached if the start wrongly succeeded
    }
    val seconds = (System.nanoTime() - startNanos) / 1e9
    (messages(thrown).mkString("\n"), seconds)
  }

  @tailrec
  private def messages(t: Throwable, acc: List[String] = Nil): List[String] =
    if (t == null) acc.reverse else messages(t.getCause, Option(t.getMessage).getOrElse(t.toString) :: acc)

  private def noSessionNoExecutor(): Unit = {
    assert(SparkSession.getActiveSession.isEmpty && SparkSession.getDefaultSession.isEmpty)
    assert(SparkSessions.executorJvms().isEmpty)
  }

  test("an out-of-range setting fails a local-cluster application at start, naming key, value, range") {
    val conf = PluginSetup.asUsersDo ++ Map(
      PluginSetup.DynamicSizing -> "true",
      "spark.dynoffheap.gc.retries" -> "-1")
    val (message, seconds) = startFails(SparkMaster.LocalCluster(), conf)
    assert(message.contains("spark.dynoffheap.gc.retries"), message)
    assert(message.contains("'-1'"), message)
    assert(message.contains("[0, 100]"), message)
    assert(seconds < 30, s"took $seconds s")
    noSessionNoExecutor()
    // And nothing comes up later either: no Worker was ever asked for an executor.
    Thread.sleep(2000)
    assert(SparkSessions.executorJvms().isEmpty)
  }

  test("every bad setting is reported in the one message") {
    val conf = PluginSetup.inProcess ++ Map(
      PluginSetup.DynamicSizing -> "true",
      "spark.dynoffheap.leakCheck" -> "sometimes",
      "spark.dynoffheap.gc.backoff" -> "-5ms",
      "spark.gluten.memory.reservationBlockSize" -> "1k")
    val (message, seconds) = startFails(SparkMaster.Local(), conf)
    assert(message.contains("'sometimes' for spark.dynoffheap.leakCheck"), message)
    assert(message.contains("'-5ms' for spark.dynoffheap.gc.backoff"), message)
    assert(message.contains("'1k' for spark.gluten.memory.reservationBlockSize"), message)
    assert(seconds < 30, s"took $seconds s")
    noSessionNoExecutor()
  }

  test("with dynamic sizing off, a missing off-heap pool fails the start with what to set") {
    val conf = PluginSetup.inProcess ++ Map(PluginSetup.DynamicSizing -> "false")
    val (message, _) = startFails(SparkMaster.Local(), conf)
    assert(message.contains(PluginSetup.OffHeapEnabled), message)
    assert(message.contains(PluginSetup.OffHeapSize), message)
    assert(message.contains(s"${PluginSetup.DynamicSizing}=true"), message)
    noSessionNoExecutor()
  }
}

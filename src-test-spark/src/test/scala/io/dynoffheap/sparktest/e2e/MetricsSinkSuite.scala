package io.dynoffheap.sparktest.e2e

import java.nio.file.{Files, Path}

import scala.collection.JavaConverters._

import io.dynoffheap.NativeMemory
import io.dynoffheap.sparktest.{PluginSetup, SparkMaster, SparkSessions}
import org.scalatest.funsuite.AnyFunSuite

/**
 * The plugin's metrics arrive in a sink of Spark's metrics system, as a user who configures one
 * reads them: on `local-cluster[1,2,1024]` with dynamic sizing, the executors get Spark's
 * `CsvSink` (one file per metric, a `t,value` row per report, every second) and a task holds
 * native memory for a few reports.
 *
 * The names are the contract a user's dashboards depend on: the suite lists them, and fails on
 * one missing or one it does not know.
 */
class MetricsSinkSuite extends AnyFunSuite {
  import MetricsSinkSuite._

  test("every metric of the plugin reaches the executors' CSV sink, with the values of the job") {
    val sinkDir = Files.createTempDirectory(SparkSessions.testHome.toPath, "metrics-csv")
    val sink = "spark.metrics.conf.executor.sink.csv."
    val conf = PluginSetup.asUsersDo ++ Map(
      PluginSetup.DynamicSizing -> "true",
      sink + "class" -> "org.apache.spark.metrics.sink.CsvSink",
      sink + "period" -> "1",
      sink + "unit" -> "seconds",
      sink + "directory" -> sinkDir.toString)
    val master = SparkMaster.LocalCluster(workers = 1, coresPerWorker = 2, memoryPerWorkerMiB = 1024,
      executorMemoryMiB = 1024)
    val appId = SparkSessions.withSession(master, "metrics-sink", conf) { spark =>
      val held = spark.sparkContext.parallelize(Seq(1), 1).map { _ =>
        val node = NativeMemory.currentTask().newNode("held-for-the-sink")
        node.reserve(HeldBytes)
        Thread.sleep(2500) // two reports or more see it
        node.repay(HeldBytes)
        HeldBytes
      }.collect()
      assert(held.toSeq == Seq(HeldBytes))
      Thread.sleep(1500) // a report after the task's end
      spark.sparkContext.applicationId
    }

    val prefix = s"$appId.0.$Source."
    val written = Files.list(sinkDir).iterator().asScala.map(_.getFileName.toString)
      .filter(_.startsWith(prefix)).map(_.stripPrefix(prefix).stripSuffix(".csv")).toSet
    assert(written == Names.toSet, s"metrics files of $prefix in $sinkDir")

    def values(name: String): Seq[Long] = series(sinkDir.resolve(s"$prefix$name.csv"))
    assert(values("nativeBytes").max >= HeldBytes, values("nativeBytes"))
    assert(values("nativeBytes").last == 0, values("nativeBytes"))
    assert(values("nativeBytesPeak").last >= HeldBytes, values("nativeBytesPeak"))
    assert(values("budget").forall(b => b > 900 * MiB && b <= 1024 * MiB), values("budget"))
    val budget = values("budget").head
    assert(values("committedHeap").forall(h => h > 0 && h <= budget), values("committedHeap"))
    assert(values("reservationsGranted").last >= 1, values("reservationsGranted"))
    assert(values("openTasks").max == 1 && values("openTasks").last == 0, values("openTasks"))
    for (none <- Seq("reservationsDenied", "leaks", "leakedBytes", "spilledBytes")) {
      assert(values(none).forall(_ == 0), s"$none: ${values(none)}")
    }
    for (name <- Names) {
      assert(values(name).forall(_ >= 0), s"$name: ${values(name)}")
    }
    info(s"${Names.size} metrics in $prefix*.csv; ${values("nativeBytes").size} reports; native " +
      s"bytes up to ${values("nativeBytes").max >> 20} MiB; budget ${budget >> 20} MiB")
  }
}

object MetricsSinkSuite {
  val MiB: Long = 1L << 20
  val HeldBytes: Long = 64 * MiB

  /** Where Spark's metrics system puts a plugin's metrics: `plugin.` and the plugin's class. */
  val Source = "plugin.io.dynoffheap.DynamicOffHeapSizingPlugin"

  /** Every metric of the plugin, as docs/configuration.md lists them. */
  val Names: Seq[String] = Seq("nativeBytes", "nativeBytesPeak", "budget", "committedHeap",
    "reservationsGranted", "reservationsDenied", "idleReclaimedBytes", "idleSweeps", "gcEpisodes",
    "gcTimeMs", "spilledBytes", "leaks", "leakedBytes", "openTasks", "budgetOvershootPeakBytes",
    "timeAboveBudgetMs")

  /** The values of a gauge's CSV file: a `t,value` header, then one `seconds,value` row per report. */
  def series(file: Path): Seq[Long] = {
    val lines = Files.readAllLines(file).asScala.toList
    assert(lines.head == "t,value", s"$file begins with ${lines.head}")
    val rows = lines.tail.map(_.split(',')).map(cells => cells(1).trim.toLong)
    assert(rows.nonEmpty, s"$file has no report")
    rows
  }
}

package io.dynoffheap.sparktest

/**
 * Where a test's Spark runs.
 *
 *  - [[SparkMaster.Local]]: driver and executor share the test JVM (`local[N]`). Starts in about
 *    a second; no separate executor process, so the executor heap is the test JVM's heap.
 *  - [[SparkMaster.LocalCluster]]: an in-process standalone Master and Workers, each Worker
 *    launching its executors as separate JVMs with `-Xmx = spark.executor.memory`
 *    (`local-cluster[workers,coresPerWorker,memoryPerWorkerMiB]`). Starts in about 15 s. This is
 *    the mode to use whenever the executor's heap size, JVM flags or process identity matter.
 */
sealed trait SparkMaster {

  /** The value of `spark.master`. */
  def url: String

  /** Settings this mode needs on top of [[SparkSessions.testDefaults]]. */
  def defaultConf: Map[String, String]

  /**
   * How many executors (other than the driver) must have registered before the session counts
   * as started, given the final configuration.
   */
  def expectedExecutors(conf: Map[String, String]): Int
}

object SparkMaster {

  /** `local[threads]`: everything in the test JVM. */
  final case class Local(threads: Int = 2) extends SparkMaster {
    require(threads >= 1, s"threads must be >= 1, got $threads")

    override def url: String = s"local[$threads]"

    override def defaultConf: Map[String, String] = Map.empty

    override def expectedExecutors(conf: Map[String, String]): Int = 0
  }

  /**
   * `local-cluster[workers,coresPerWorker,memoryPerWorkerMiB]` with executors in their own JVMs.
   *
   * @param executorMemoryMiB `spark.executor.memory`, which becomes the executor JVM's `-Xmx`;
   *                          must fit in `memoryPerWorkerMiB`, or the Master never places an
   *                          executor and every job waits forever.
   */
  final case class LocalCluster(
      workers: Int = 1,
      coresPerWorker: Int = 2,
      memoryPerWorkerMiB: Int = 1024,
      executorMemoryMiB: Int = 1024)
    extends SparkMaster {

    require(workers >= 1, s"workers must be >= 1, got $workers")
    require(coresPerWorker >= 1, s"coresPerWorker must be >= 1, got $coresPerWorker")
    require(
      executorMemoryMiB >= 1 && executorMemoryMiB <= memoryPerWorkerMiB,
      s"executorMemoryMiB ($executorMemoryMiB) must be between 1 and memoryPerWorkerMiB " +
        s"($memoryPerWorkerMiB): a Worker never launches an executor that does not fit, and " +
        "jobs would wait for resources forever")

    override def url: String = s"local-cluster[$workers,$coresPerWorker,$memoryPerWorkerMiB]"

    override def defaultConf: Map[String, String] =
      Map("spark.executor.memory" -> s"${executorMemoryMiB}m")

    /**
     * Standalone places one executor per Worker with all its cores, unless
     * `spark.executor.cores` is set, in which case a Worker hosts as many executors as both its
     * cores and its memory allow.
     */
    override def expectedExecutors(conf: Map[String, String]): Int = {
      val perWorker = conf.get("spark.executor.cores") match {
        case None => 1
        case Some(c) =>
          val byCores = coresPerWorker / c.trim.toInt
          val byMemory = memoryPerWorkerMiB / SparkSessions.parseMiB(
            conf.getOrElse("spark.executor.memory", s"${executorMemoryMiB}m"))
          math.min(byCores, byMemory)
      }
      workers * perWorker
    }
  }
}

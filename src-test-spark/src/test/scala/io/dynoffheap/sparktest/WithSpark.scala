package io.dynoffheap.sparktest

import scala.concurrent.duration.FiniteDuration

import org.apache.spark.SparkContext
import org.apache.spark.sql.SparkSession
import org.scalatest.{BeforeAndAfterAll, Suite}

/**
 * One Spark session per suite: started in `beforeAll`, stopped in `afterAll` (also when tests
 * fail), executors registered before the first test runs.
 *
 * {{{
 * class MySuite extends AnyFunSuite with WithSpark {
 *   override protected def sparkMaster = SparkMaster.LocalCluster(executorMemoryMiB = 768)
 *   override protected def sparkConf = Map("spark.plugins" -> classOf[MyPlugin].getName)
 *   test("...") { assert(spark.range(10).count() == 10) }
 * }
 * }}}
 *
 * Suites run one after another in the test JVM (Spark allows one SparkContext per JVM); do not
 * turn on ScalaTest's parallel suite execution.
 */
trait WithSpark extends BeforeAndAfterAll { self: Suite =>

  /** Where Spark runs; `local[2]` unless overridden. */
  protected def sparkMaster: SparkMaster = SparkMaster.Local()

  /** Conf on top of [[SparkSessions.testDefaults]] and the master's defaults. */
  protected def sparkConf: Map[String, String] = Map.empty

  protected def executorStartTimeout: FiniteDuration = SparkSessions.DefaultExecutorStartTimeout

  /**
   * Whether `beforeAll` runs one trivial job to make sure local-cluster executors got past
   * their start (see [[SparkSessions.awaitExecutors]]). Turn off when a suite must see the
   * very first task of each executor.
   */
  protected def probeExecutors: Boolean = true

  @volatile private var session: SparkSession = _

  /** The suite's session; only between `beforeAll` and `afterAll`. */
  protected final def spark: SparkSession = {
    val s = session
    if (s == null) {
      throw new IllegalStateException(
        s"$suiteName: the Spark session exists only while the suite's tests run")
    }
    s
  }

  protected final def sc: SparkContext = spark.sparkContext

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    session = SparkSessions.start(sparkMaster, suiteName, sparkConf, executorStartTimeout,
      probeExecutors)
  }

  override protected def afterAll(): Unit = {
    val s = session
    session = null
    try {
      if (s != null) SparkSessions.stop(s)
    } finally {
      super.afterAll()
    }
  }
}

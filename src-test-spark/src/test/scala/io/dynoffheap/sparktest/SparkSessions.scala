package io.dynoffheap.sparktest

import java.io.{File, IOException}
import java.nio.charset.StandardCharsets
import java.nio.file.{Files, StandardCopyOption}
import java.util.concurrent.{TimeUnit, TimeoutException}
import java.util.concurrent.atomic.AtomicLong

import scala.collection.mutable
import scala.concurrent.duration._
import scala.util.control.NonFatal

import org.apache.spark.SparkContext
import org.apache.spark.network.util.JavaUtils
import org.apache.spark.sql.SparkSession
import org.slf4j.LoggerFactory

/**
 * Starts and stops real Spark sessions for tests.
 *
 * Guarantees, whatever the suites do:
 *  - a session is started only after the previous one is gone: a session left running by an
 *    earlier (failed or careless) suite is stopped, with a warning, before the next starts, and
 *    a session whose SparkContext turns out to be such a leftover is never handed out;
 *  - [[stop]] returns only once the executor JVMs of a local-cluster session have exited
 *    (they are killed if they do not exit in time), and a JVM shutdown hook kills any that are
 *    still alive when the test JVM ends;
 *  - a session that cannot get its executors fails with the tail of the executors' stderr in
 *    the message instead of letting the first job hang.
 *
 * Suites normally mix in [[WithSpark]]; use [[withSession]] for a session per test (e.g. tests
 * that expect a start to fail).
 */
object SparkSessions {

  private val log = LoggerFactory.getLogger("io.dynoffheap.sparktest.SparkSessions")

  /** Main class of the executor JVMs that standalone Workers launch. */
  val ExecutorMainClass = "org.apache.spark.executor.CoarseGrainedExecutorBackend"

  val DefaultExecutorStartTimeout: FiniteDuration = 120.seconds

  /** Executor launches beyond the expected number after which [[awaitExecutors]] gives up. */
  val DefaultMaxExecutorStartFailures = 2

  /** How long [[stop]] lets executor JVMs exit on their own before killing them. */
  val ExecutorExitTimeout: FiniteDuration = 30.seconds

  /**
   * Marker put into every session's conf, to recognise a SparkContext we did not just create.
   * Outside the plugin's prefix spark.dynoffheap., whose unknown keys fail the start.
   */
  private val SessionIdKey = "spark.dynoffheapTest.sessionId"
  private val sessionIds = new AtomicLong()

  private val live = mutable.LinkedHashSet.empty[SparkSession]

  /**
   * Settings every test session gets. The master's [[SparkMaster.defaultConf]] and then the
   * caller's conf are applied on top, so any of these can be overridden.
   */
  def testDefaults: Map[String, String] = Map(
    "spark.ui.enabled" -> "false",
    "spark.ui.showConsoleProgress" -> "false",
    "spark.eventLog.enabled" -> "false",
    "spark.sql.shuffle.partitions" -> "4",
    // Fail the task, not just log, when a task ends with Spark-managed memory not freed.
    "spark.unsafe.exceptionOnMemoryLeak" -> "true",
    "spark.sql.warehouse.dir" -> new File(testHome, "spark-warehouse").getAbsolutePath)

  /**
   * The directory Spark treats as SPARK_HOME in testing mode (system property
   * `spark.test.home`, set by the Maven build). Spark needs it to exist but puts little in it;
   * the harness keeps its own files there (warehouse, [[executorLogArchive]]). Created if
   * missing. When the property is not set (e.g. a run from an IDE) a temporary directory is
   * used and the property is set to it.
   */
  def testHome: File = synchronized {
    val dir = sys.props.get("spark.test.home") match {
      case Some(path) => new File(path).getAbsoluteFile
      case None =>
        val tmp = Files.createTempDirectory("spark-test-home").toFile
        sys.props("spark.test.home") = tmp.getPath
        tmp
    }
    if (!dir.isDirectory && !dir.mkdirs() && !dir.isDirectory) {
      throw new IOException(s"cannot create spark.test.home directory $dir")
    }
    dir
  }

  /**
   * Starts a session and, for local-cluster, waits until its executors are up (see
   * [[awaitExecutors]]). On any failure nothing is left running.
   *
   * @param extraConf      applied last; wins over [[testDefaults]] and the master's defaults
   * @param probeExecutors run one trivial job before returning, to be sure the executors got
   *                       past their start (executor plugins' `init` included)
   */
  def start(
      master: SparkMaster,
      appName: String,
      extraConf: Map[String, String] = Map.empty,
      executorStartTimeout: FiniteDuration = DefaultExecutorStartTimeout,
      probeExecutors: Boolean = true): SparkSession =
    synchronized {
      stopLeftovers()
      val conf = testDefaults ++ master.defaultConf ++ extraConf
      master match {
        case cluster: SparkMaster.LocalCluster => checkLocalClusterPreconditions(cluster, conf)
        case _: SparkMaster.Local =>
      }
      installShutdownHook()

      val startNanos = System.nanoTime()
      val spark = createFresh(master, appName, conf)
      try {
        val contextMillis = (System.nanoTime() - startNanos) / 1000000
        val executors = master.expectedExecutors(conf)
        awaitExecutors(spark.sparkContext, executors, executorStartTimeout,
          probe = probeExecutors)
        val readyMillis = (System.nanoTime() - startNanos) / 1000000
        log.info(s"Started ${master.url} for $appName (${spark.sparkContext.applicationId}): " +
          s"SparkContext after $contextMillis ms, $executors executor(s) after $readyMillis ms")
        spark
      } catch {
        case NonFatal(e) =>
          try stop(spark) catch { case NonFatal(s) => e.addSuppressed(s) }
          throw e
      }
    }

  /** Runs `body` with a fresh session and always stops it afterwards. */
  def withSession[T](
      master: SparkMaster,
      appName: String,
      extraConf: Map[String, String] = Map.empty)(body: SparkSession => T): T = {
    val spark = start(master, appName, extraConf)
    var failure: Throwable = null
    try body(spark)
    catch {
      case t: Throwable =>
        failure = t
        throw t
    } finally {
      try stop(spark)
      catch {
        case NonFatal(e) if failure != null => failure.addSuppressed(e)
      }
    }
  }

  /**
   * Stops the session and its SparkContext, clears the active and default session, and
   * returns only after the executor JVMs are gone (killing those that do not exit within
   * [[ExecutorExitTimeout]]). Safe to call twice.
   */
  def stop(spark: SparkSession): Unit = synchronized {
    val executorsBefore = executorJvms()
    if (!spark.sparkContext.isStopped) archiveExecutorLogs(spark.sparkContext)
    try spark.stop()
    finally {
      live -= spark
      SparkSession.clearActiveSession()
      SparkSession.clearDefaultSession()
      reap(executorsBefore ++ executorJvms(), ExecutorExitTimeout)
    }
  }

  /**
   * Waits until `count` executors besides the driver are up, and fails early, with the
   * executors' output in the message, when the SparkContext stops meanwhile or when executors
   * keep dying at start.
   *
   * "Up" means registered with the driver and, if `probe` is set, having run a task: an
   * executor registers *before* it builds its Executor (and runs executor plugins' `init`), so
   * registration alone does not prove it will live. The probe is one trivial job with one task
   * per core.
   *
   * Dying executors: the standalone Master relaunches them forever (each launch reports
   * RUNNING first, which resets the app's retry count, so `spark.deploy.maxExecutorRetries`
   * never triggers). Once `maxStartFailures` launches beyond `count` have happened, the wait
   * gives up.
   */
  def awaitExecutors(
      sc: SparkContext,
      count: Int,
      timeout: FiniteDuration = DefaultExecutorStartTimeout,
      maxStartFailures: Int = DefaultMaxExecutorStartFailures,
      probe: Boolean = true): Unit = {
    if (count > 0) {
      val deadline = timeout.fromNow
      def launched: Int = try executorDirs(sc).size catch { case NonFatal(_) => 0 }
      def crashLooping: Boolean = launched >= count + maxStartFailures

      /** Polls until `done`; on failure throws with the reason and the executors' output. */
      def await(what: String)(done: => Boolean): Unit = {
        while (!done && !sc.isStopped && deadline.hasTimeLeft() && !crashLooping) {
          Thread.sleep(50)
        }
        if (!done) {
          val state = s"${sc.applicationId}: $what; ${registeredExecutors(sc)} of $count " +
            s"executor(s) registered, $launched launched"
          val why =
            if (sc.isStopped) s"SparkContext stopped while waiting for its executors ($state)."
            else if (crashLooping) s"Executors keep exiting at start ($state)."
            else s"Executors not up within $timeout ($state)."
          if (!sc.isStopped) Thread.sleep(500) // let the Worker copy their last output
          throw new ExecutorStartException(why + executorOutput(sc))
        }
      }

      await("waiting for registration")(registeredExecutors(sc) >= count)
      if (probe) {
        val tasks = math.max(count, sc.defaultParallelism)
        val job = sc.parallelize(0 until tasks, tasks).map(_ => 1).collectAsync()
        try {
          await("waiting for a probe job")(job.isCompleted)
        } finally {
          if (!job.isCompleted) job.cancel()
        }
        job.value.foreach(_.get) // rethrows the job's failure, if any
      }
    }
  }

  /** Executors other than the driver that the driver currently knows. */
  def registeredExecutors(sc: SparkContext): Int =
    // The status tracker lists the driver's block manager as an executor too.
    math.max(0, sc.statusTracker.getExecutorInfos.length - 1)

  /** Live executor JVMs started (through an in-process Worker) by this JVM. */
  def executorJvms(): List[ProcessHandle] = {
    val found = mutable.ListBuffer.empty[ProcessHandle]
    val it = ProcessHandle.current().descendants().iterator()
    while (it.hasNext) {
      val p = it.next()
      if (p.isAlive && commandLine(p).contains(ExecutorMainClass)) found += p
    }
    found.toList
  }

  /**
   * The full command line of a process. `ProcessHandle.Info.commandLine()` is not enough on
   * Linux: the JDK reads only the first 4 KiB of /proc/<pid>/cmdline, and an executor's
   * command has the whole test class path before its main class.
   */
  private def commandLine(p: ProcessHandle): String = {
    val proc = new File(s"/proc/${p.pid}/cmdline")
    val full =
      if (proc.canRead) {
        try {
          val bytes = Files.readAllBytes(proc.toPath)
          Some(new String(bytes, StandardCharsets.UTF_8).replace(0.toChar, ' '))
        } catch { case _: IOException => None }
      } else None
    full.getOrElse(p.info().commandLine().orElse(""))
  }

  /**
   * The executor directories of this application (local-cluster only), each holding the
   * executor's `stdout`, `stderr` and whatever else the executor wrote to its working directory.
   * In testing mode each in-process Worker works in its own temporary directory
   * (`<java.io.tmpdir>/worker-*`; the Maven build points java.io.tmpdir into target/), which
   * Spark deletes when the cluster stops; [[stop]] copies the logs to [[executorLogArchive]]
   * first.
   */
  def executorDirs(sc: SparkContext): List[File] = {
    def children(dir: File): List[File] =
      Option(dir.listFiles()).map(_.toList).getOrElse(Nil).filter(_.isDirectory)
    val workerDirs = children(new File(sys.props("java.io.tmpdir")))
      .filter(_.getName.startsWith("worker-")) :+ new File(testHome, "work")
    workerDirs
      .map(w => new File(w, sc.applicationId))
      .filter(_.isDirectory)
      .flatMap(children)
      .sortBy(_.getName)
  }

  /** Where [[stop]] keeps the executors' logs of an application after Spark deleted its work dirs. */
  def executorLogArchive(appId: String): File =
    new File(new File(testHome, "executor-logs"), appId)

  /** `spark.executor.memory`-style size ("1g", "512m", "512" = MiB) in MiB. */
  def parseMiB(size: String): Int = JavaUtils.byteStringAsMb(size.trim).toInt

  // ----------------------------------------------------------------------------------------

  /**
   * Builds a session from `conf` and makes sure it runs on a SparkContext created just now:
   * `getOrCreate` silently reuses any SparkContext that is still active in the JVM (with its
   * old master and settings), so one that lacks this call's marker is stopped and the session
   * created again.
   */
  private def createFresh(
      master: SparkMaster,
      appName: String,
      conf: Map[String, String]): SparkSession = {
    def attempt(): SparkSession = {
      val id = s"${sessionIds.incrementAndGet()}"
      val builder = SparkSession.builder().master(master.url).appName(appName)
      (conf + (SessionIdKey -> id)).foreach { case (k, v) => builder.config(k, v) }
      val spark =
        try builder.getOrCreate()
        catch {
          case NonFatal(e) =>
            // A SparkContext that fails in its constructor stops itself; make sure no
            // executor it had asked for outlives it.
            try reap(executorJvms(), ExecutorExitTimeout)
            catch { case NonFatal(s) => e.addSuppressed(s) }
            throw e
        }
      live += spark
      if (spark.sparkContext.getConf.getOption(SessionIdKey).contains(id)) {
        spark
      } else {
        log.warn(s"A SparkContext (master ${spark.sparkContext.master}, app " +
          s"${spark.sparkContext.appName}) was still running and would have been reused; " +
          "stopping it. Some earlier test did not stop its session.")
        stop(spark)
        null
      }
    }
    Option(attempt()).orElse(Option(attempt())).getOrElse {
      throw new IllegalStateException(
        "could not get a fresh SparkContext: an existing one keeps being reused")
    }
  }

  private def stopLeftovers(): Unit = {
    val candidates = (live.toList ++ SparkSession.getDefaultSession.toList ++
      SparkSession.getActiveSession.toList).distinct
    candidates.foreach { s =>
      if (!s.sparkContext.isStopped) {
        log.warn(s"Stopping a session left running by an earlier test (master " +
          s"${s.sparkContext.master}, app ${s.sparkContext.appName}).")
      }
      stop(s)
    }
    val strays = executorJvms()
    if (strays.nonEmpty) {
      log.warn(s"Killing ${strays.size} executor JVM(s) left over by an earlier test: " +
        strays.map(_.pid).mkString(", "))
      reap(strays, 0.seconds)
    }
  }

  private def checkLocalClusterPreconditions(
      cluster: SparkMaster.LocalCluster,
      conf: Map[String, String]): Unit = {
    val scalaBinary = scala.util.Properties.versionNumberString.split('.').take(2).mkString(".")
    val problems = List(
      if (sys.env.get("SPARK_TESTING").contains("1")) None
      else Some("environment variable SPARK_TESTING=1 is missing"),
      if (sys.env.get("SPARK_SCALA_VERSION").contains(scalaBinary)) None
      else Some(s"environment variable SPARK_SCALA_VERSION=$scalaBinary is missing " +
        s"(found ${sys.env.getOrElse("SPARK_SCALA_VERSION", "nothing")})")).flatten
    if (problems.nonEmpty) {
      throw new IllegalStateException(
        s"${cluster.url} cannot start executors: ${problems.mkString("; ")}. The Worker " +
          "builds the executor command with Spark's launcher, which needs them (the Maven " +
          "build sets them; set them in the IDE's run configuration too).")
    }
    val executorMiB = parseMiB(conf.getOrElse("spark.executor.memory", "1g"))
    require(executorMiB <= cluster.memoryPerWorkerMiB,
      s"spark.executor.memory ($executorMiB MiB) exceeds the Worker's memory " +
        s"(${cluster.memoryPerWorkerMiB} MiB in ${cluster.url}): no executor would ever start")
    // Spark reads this flag from system properties in the Worker and the scheduler backend;
    // it makes executors use this JVM's class path and spark.test.home as SPARK_HOME.
    if (!sys.props.contains("spark.testing")) sys.props("spark.testing") = "1"
    testHome
  }

  /** Waits up to `grace` for the processes to exit, then kills the rest and waits for them. */
  private def reap(processes: List[ProcessHandle], grace: FiniteDuration): Unit = {
    val distinct = processes.groupBy(_.pid).values.map(_.head).toList
    if (distinct.nonEmpty) {
      val deadline = grace.fromNow
      distinct.foreach(p => awaitExit(p, deadline.timeLeft))
      val stubborn = distinct.filter(_.isAlive)
      if (stubborn.nonEmpty) {
        if (grace > Duration.Zero) {
          log.warn(s"Executor JVM(s) ${stubborn.map(_.pid).mkString(", ")} still alive " +
            s"$grace after their SparkContext stopped; killing them.")
        }
        stubborn.foreach(_.destroyForcibly())
        stubborn.foreach(p => awaitExit(p, 10.seconds))
      }
    }
  }

  private def awaitExit(p: ProcessHandle, timeout: FiniteDuration): Unit = {
    if (p.isAlive && timeout > Duration.Zero) {
      try p.onExit().get(timeout.toMillis, TimeUnit.MILLISECONDS)
      catch { case _: TimeoutException => }
    }
  }

  private var shutdownHookInstalled = false

  private def installShutdownHook(): Unit = {
    if (!shutdownHookInstalled) {
      shutdownHookInstalled = true
      val hook = new Thread("dynoffheap-test-executor-reaper") {
        override def run(): Unit = {
          // Spark's own hooks stop the SparkContext and its Workers; this is the safety net
          // that makes sure no executor JVM outlives the test JVM.
          val strays = executorJvms()
          strays.foreach(_.destroyForcibly())
        }
      }
      Runtime.getRuntime.addShutdownHook(hook)
    }
  }

  /** Copies each executor's log files (not the jars it fetched) to [[executorLogArchive]]. */
  private def archiveExecutorLogs(sc: SparkContext): Unit = {
    try {
      executorDirs(sc).foreach { dir =>
        val files = Option(dir.listFiles()).map(_.toList).getOrElse(Nil)
          .filter(f => f.isFile && !f.getName.endsWith(".jar"))
        if (files.nonEmpty) {
          val target = new File(executorLogArchive(sc.applicationId), dir.getName)
          Files.createDirectories(target.toPath)
          files.foreach { f =>
            Files.copy(f.toPath, new File(target, f.getName).toPath,
              StandardCopyOption.REPLACE_EXISTING)
          }
        }
      }
    } catch {
      case NonFatal(e) => log.warn(s"Could not keep the executor logs of ${sc.applicationId}", e)
    }
  }

  /**
   * The tail of stdout and stderr of the most recently launched executors that wrote anything
   * beyond the command header that the Worker puts at the top of stderr, for failure messages.
   * Long lines are cut: the header has the whole class path.
   */
  def executorOutput(sc: SparkContext, executors: Int = 2, lines: Int = 40): String = {
    def executorNumber(dir: File): Long =
      try dir.getName.toLong catch { case _: NumberFormatException => -1L }
    def read(f: File): List[String] =
      if (!f.isFile) Nil
      else {
        try new String(Files.readAllBytes(f.toPath), StandardCharsets.UTF_8).split("\n").toList
        catch { case NonFatal(e) => List(s"<cannot read $f: $e>") }
      }
    // Worker header: "Spark Executor Command: ...", a line of '=', an empty line.
    def body(f: File): List[String] = {
      val all = read(f)
      val text =
        if (all.headOption.exists(_.startsWith("Spark Executor Command"))) {
          all.dropWhile(!_.startsWith("=====")).drop(1)
        } else all
      if (text.forall(_.trim.isEmpty)) Nil else text.dropWhile(_.trim.isEmpty)
    }
    val dirs =
      try executorDirs(sc).sortBy(executorNumber).reverse
      catch { case NonFatal(_) => Nil }
    val withOutput = dirs.map { d =>
      d -> List(new File(d, "stdout"), new File(d, "stderr")).map(f => f -> body(f))
        .filter(_._2.nonEmpty)
    }.filter(_._2.nonEmpty).take(executors).reverse
    if (withOutput.isEmpty) {
      s"\nNo executor output found for ${sc.applicationId} (${dirs.size} executor dir(s))."
    } else {
      withOutput.flatMap(_._2).map { case (f, text) =>
        val shown = text.takeRight(lines).map { l =>
          if (l.length <= 300) l else l.take(300) + s" ...(${l.length - 300} more chars)"
        }
        s"\n--- last ${shown.size} lines of $f ---\n" + shown.mkString("\n")
      }.mkString
    }
  }
}

/** Executors of a local-cluster session did not come up; the message has their output. */
final class ExecutorStartException(message: String) extends RuntimeException(message)

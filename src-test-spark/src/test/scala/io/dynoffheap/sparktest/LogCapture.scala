package io.dynoffheap.sparktest

import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicLong

import org.apache.logging.log4j.{Level, LogManager}
import org.apache.logging.log4j.core.{LogEvent, LoggerContext}
import org.apache.logging.log4j.core.appender.AbstractAppender
import org.apache.logging.log4j.core.config.Property

/** One log line captured in the test JVM (driver side). */
final case class CapturedLog(logger: String, level: String, message: String)

/**
 * Captures what the test JVM logs (the driver, and in local mode the executor too) through log4j2,
 * which Spark uses as SLF4J's binding: an appender added to the root logger until [[close]].
 *
 * {{{
 * val capture = LogCapture.start()
 * try { ... } finally capture.close()
 * capture.events.filter(_.logger == "io.dynoffheap.DriverSide")
 * }}}
 */
final class LogCapture private (context: LoggerContext) extends AutoCloseable {
  private val captured = new ConcurrentLinkedQueue[CapturedLog]()
  private val name = s"test-capture-${LogCapture.ids.incrementAndGet()}"

  private val appender = new AbstractAppender(name, null, null, true, Property.EMPTY_ARRAY) {
    override def append(event: LogEvent): Unit =
      captured.add(CapturedLog(event.getLoggerName, event.getLevel.toString,
        event.getMessage.getFormattedMessage))
  }

  private def attach(): Unit = {
    appender.start()
    context.getConfiguration.getRootLogger.addAppender(appender, Level.ALL, null)
    context.updateLoggers()
  }

  /** Everything captured so far, in order. */
  def events: Seq[CapturedLog] = {
    val out = List.newBuilder[CapturedLog]
    val it = captured.iterator()
    while (it.hasNext) out += it.next()
    out.result()
  }

  def warnings(logger: String): Seq[CapturedLog] =
    events.filter(e => e.logger == logger && e.level == "WARN")

  override def close(): Unit = {
    context.getConfiguration.getRootLogger.removeAppender(name)
    context.updateLoggers()
    appender.stop()
  }
}

object LogCapture {
  private val ids = new AtomicLong()

  def start(): LogCapture = {
    val context = LogManager.getContext(false).asInstanceOf[LoggerContext]
    val capture = new LogCapture(context)
    capture.attach()
    capture
  }
}

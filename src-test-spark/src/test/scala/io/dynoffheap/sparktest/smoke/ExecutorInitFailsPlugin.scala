package io.dynoffheap.sparktest.smoke

import java.util.{Map => JMap}

import org.apache.spark.api.plugin.{DriverPlugin, ExecutorPlugin, PluginContext, SparkPlugin}

/** A Spark plugin whose executor side always fails to start; used by HarnessSuite. */
class ExecutorInitFailsPlugin extends SparkPlugin {

  override def driverPlugin(): DriverPlugin = null

  override def executorPlugin(): ExecutorPlugin = new ExecutorPlugin {
    override def init(ctx: PluginContext, extraConf: JMap[String, String]): Unit =
      throw new IllegalStateException(ExecutorInitFailsPlugin.Message)
  }
}

object ExecutorInitFailsPlugin {
  val Message = "ExecutorInitFailsPlugin refuses to start (deliberate test failure)"
}

package io.dynoffheap;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * The plugin users name in {@code spark.plugins}. The driver side checks the configuration
 * before any executor starts; the executor side builds the executor's native memory state.
 */
public final class DynamicOffHeapSizingPlugin implements SparkPlugin {
  @Override
  public DriverPlugin driverPlugin() {
    return new DriverSide();
  }

  @Override
  public ExecutorPlugin executorPlugin() {
    return new ExecutorSide();
  }
}

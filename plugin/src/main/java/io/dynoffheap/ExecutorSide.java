package io.dynoffheap;

import io.dynoffheap.config.PluginSettings;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs in each executor: logs the Spark and Java it runs on ({@link RuntimeSupport}), builds the
 * executor's {@link ExecutorMemory} once, warns about JVM flags that defeat dynamic sizing,
 * registers the metrics, publishes the memory state to {@link NativeMemory}, writes the memory
 * timeline to a CSV file ({@link MemoryTimeline}) and, when the driver asks for it, sends it to the
 * driver for the event log ({@link TimelineShipper}). Task memory is
 * made lazily and closed by task completion listeners, so the task hooks are not used (they run
 * after Spark's own leak check).
 *
 * <p>It never throws from {@code init}: an executor whose plugin fails to start exits and is
 * started again by the cluster manager, forever. The driver has already checked the settings;
 * what only the executor can check, the budget against its machine's memory, is logged as an
 * error.
 */
final class ExecutorSide implements ExecutorPlugin {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorSide.class);
  private ExecutorMemory memory;
  private MemoryTimeline timeline;
  private TimelineShipper shipper;

  @Override
  public void init(PluginContext context, Map<String, String> extraConf) {
    RuntimeSupport.logAtStart("executor " + context.executorID());
    SparkConf conf = context.conf();
    PluginSettings settings;
    try {
      settings = PluginSettings.from(conf);
    } catch (IllegalArgumentException e) {
      LOG.error("Dynamic off-heap sizing is off in executor {}: {}", context.executorID(), e.getMessage());
      return;
    }
    settings.budgetProblem(Runtime.getRuntime().maxMemory(), MachineMemory.totalBytes())
        .ifPresent(problem -> LOG.error("Executor {}: {} The budget is used as set; the driver "
            + "cannot check it against the executors' machines.", context.executorID(), problem));
    int cores = conf.getInt("spark.executor.cores", Runtime.getRuntime().availableProcessors());
    MemoryPlan plan = MemoryPlan.of(settings, Runtime.getRuntime().maxMemory(), cores,
        conf.getInt("spark.task.cpus", 1));
    memory = new ExecutorMemory(settings, plan);
    if (settings.dynamicSizing()) {
      JvmChecks.warningsForThisJvm().forEach(LOG::warn);
    }
    PluginMetrics.register(context.metricRegistry(), memory);
    NativeMemory.install(memory);
    if (!settings.timelineDir().isEmpty()) {
      timeline = MemoryTimeline.start(settings.timelineDir(), conf.get("spark.app.id", "app"),
          context.executorID(), memory, settings.timelineIntervalMillis());
    }
    if (Boolean.parseBoolean(extraConf.get(DriverSide.TIMELINE_TO_EVENT_LOG))) {
      shipper = new TimelineShipper(context, memory, settings.timelineEventLogIntervalMillis());
    }
    LOG.info("Dynamic off-heap sizing plugin in executor {}: {}", context.executorID(), plan);
  }

  @Override
  public void shutdown() {
    if (shipper != null) {
      shipper.close();
    }
    if (timeline != null) {
      timeline.close();
    }
    if (memory != null) {
      NativeMemory.uninstall(memory);
      memory.close();
    }
  }
}

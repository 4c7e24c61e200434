package io.dynoffheap;

import io.dynoffheap.config.PluginSettings;
import io.dynoffheap.timeline.MemoryTimelineEvent;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.network.util.JavaUtils;
import org.apache.spark.resource.ExecutorResourceRequest;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.resource.ResourceProfileManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs on the driver before the task scheduler starts, so a wrong configuration fails the
 * application at once, with the key, the value and what is allowed, instead of leaving
 * executors to fail and be restarted forever.
 *
 * <ul>
 *   <li>Every setting of the plugin is read and checked, unknown keys under its prefixes are
 *       refused, and the budget is checked against the executor heap and, in local mode, this
 *       machine's memory ({@link PluginSettings#forDriver}).
 *   <li>Dynamic sizing on: Spark's off-heap settings are ignored, one warning per key the user
 *       set, and Spark's own off-heap memory is switched off for the executors (they fetch the
 *       driver's conf after this runs), so Tungsten does not allocate native memory outside the
 *       quota. The budget is executor memory alone.
 *   <li>Dynamic sizing on, containers: YARN and Kubernetes size every executor's container from
 *       Spark's default resource profile, which carries spark.memory.offHeap.size when the user
 *       enabled it. Spark 3.5 and 4.0 build that profile before plugins start, so switching
 *       off-heap memory off here comes too late for it: the containers would be larger than the
 *       executor memory plus overhead by memory nothing uses. Where the profile still carries
 *       off-heap memory on such a cluster manager, the application fails at start and says
 *       which keys to remove; elsewhere (standalone, local) the profile sizes no container.
 *       Spark 4.1 and later build the profile after the plugins, from the corrected settings.
 *   <li>Dynamic sizing off: native memory is limited by Spark's off-heap pool, which must then
 *       be configured.
 *   <li>The memory plan (budget, task slots, per-task hint) is logged.
 *   <li>With spark.eventLog.enabled and spark.dynoffheap.timeline.eventLog.interval above 0, the
 *       executors are told to send their memory timelines ({@link TimelineShipper}); each batch
 *       that arrives ({@link #receive}) is posted to Spark's listener bus as it is, so the event
 *       log writes it. The driver keeps none: its memory does not grow with the executors, and
 *       when the bus's queue is full Spark drops events, as it does for its own.
 * </ul>
 */
final class DriverSide implements DriverPlugin {
  static final String OFF_HEAP_ENABLED = "spark.memory.offHeap.enabled";
  static final String OFF_HEAP_SIZE = "spark.memory.offHeap.size";
  /** Key of the executors' extra conf: "true" when they send their timelines to the driver. */
  static final String TIMELINE_TO_EVENT_LOG = "timelineToEventLog";
  private static final Logger LOG = LoggerFactory.getLogger(DriverSide.class);
  private static final Pattern LOCAL_MASTER = Pattern.compile("local(?:\\[(\\d+|\\*)(?:,\\s*\\d+)?])?");
  private static final Pattern LOCAL_CLUSTER_MASTER =
      Pattern.compile("local-cluster\\[\\s*\\d+\\s*,\\s*(\\d+)\\s*,\\s*\\d+\\s*]");
  private SparkContext sc;

  @Override
  public Map<String, String> init(SparkContext sc, PluginContext pluginContext) {
    RuntimeSupport.logAtStart("the driver");
    SparkConf conf = sc.getConf();
    long executorHeap = sc.isLocal() ? Runtime.getRuntime().maxMemory() : sc.executorMemory() * (1L << 20);
    PluginSettings settings = PluginSettings.forDriver(conf, executorHeap,
        sc.isLocal() ? MachineMemory.totalBytes() : 0);
    if (settings.dynamicSizing()) {
      for (String key : List.of(OFF_HEAP_ENABLED, OFF_HEAP_SIZE)) {
        if (conf.contains(key)) {
          LOG.warn("{}={} is ignored: with {}=true native memory and the heap share one budget, "
              + "spark.executor.memory; remove {} from the configuration.", key, conf.get(key),
              PluginSettings.DYNAMIC_SIZING.key(), key);
        }
      }
      sc.conf().set(OFF_HEAP_ENABLED, "false");
      checkContainerSize(sc.master(), defaultProfileOffHeapMiB(sc));
    } else {
      checkStaticSplit(conf);
    }
    int cores = conf.getInt("spark.executor.cores", coresOfMaster(sc.master()));
    MemoryPlan plan = MemoryPlan.of(settings, executorHeap, cores, conf.getInt("spark.task.cpus", 1));
    LOG.info("Dynamic off-heap sizing plugin: each executor: {}", plan);
    this.sc = sc;
    boolean timelineToEventLog = conf.getBoolean("spark.eventLog.enabled", false)
        && settings.timelineEventLogIntervalMillis() > 0;
    return Map.of(TIMELINE_TO_EVENT_LOG, Boolean.toString(timelineToEventLog));
  }

  /** A batch of an executor's memory timeline: posted to the listener bus, for the event log. */
  @Override
  public Object receive(Object message) {
    if (!(message instanceof MemoryTimelineEvent event)) {
      throw new IllegalArgumentException("Dynamic off-heap sizing plugin: the driver received a "
          + message.getClass().getName() + " but accepts only " + MemoryTimelineEvent.EVENT_NAME
          + " from executors; executors and driver must run the same plugin jar.");
    }
    sc.listenerBus().post(event);
    return null;
  }

  /**
   * Cores of one executor when spark.executor.cores is not set: the thread count of local[N],
   * the cores of a local-cluster worker, else 1 (YARN's default; standalone gives a whole worker).
   */
  static int coresOfMaster(String master) {
    Matcher local = LOCAL_MASTER.matcher(master);
    if (local.matches()) {
      String threads = local.group(1);
      return threads == null ? 1
          : threads.equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(threads);
    }
    Matcher cluster = LOCAL_CLUSTER_MASTER.matcher(master);
    return cluster.matches() ? Integer.parseInt(cluster.group(1)) : 1;
  }

  /**
   * Off-heap MiB that Spark's default resource profile asks of each executor's container, if
   * the profile exists yet; 0 when Spark builds it after the plugins (4.1 and later), from the
   * configuration as this class left it.
   */
  static long defaultProfileOffHeapMiB(SparkContext sc) {
    ResourceProfileManager profiles = sc.resourceProfileManager();
    if (profiles == null) {
      return 0;
    }
    ExecutorResourceRequest offHeap = profiles.defaultResourceProfile().executorResourcesJMap()
        .get(ResourceProfile.OFFHEAP_MEM());
    return offHeap == null ? 0 : offHeap.amount();
  }

  /**
   * Dynamic sizing on: fails when a cluster manager that sizes containers from the default
   * resource profile (YARN, Kubernetes) would add {@code profileOffHeapMiB} of off-heap memory
   * that the executors never use.
   */
  static void checkContainerSize(String master, long profileOffHeapMiB) {
    boolean sizesContainers = master.startsWith("yarn") || master.startsWith("k8s://");
    if (profileOffHeapMiB > 0 && sizesContainers) {
      throw new IllegalArgumentException("Dynamic off-heap sizing plugin: with "
          + PluginSettings.DYNAMIC_SIZING.key() + "=true the executor's memory is "
          + "spark.executor.memory alone, but Spark's default resource profile was built from "
          + OFF_HEAP_ENABLED + "=true and " + OFF_HEAP_SIZE + " before the plugin started, so "
          + master.replaceAll("://.*", "") + " would make every executor's container "
          + profileOffHeapMiB + " MiB larger for off-heap memory that nothing uses. Remove "
          + OFF_HEAP_ENABLED + " and " + OFF_HEAP_SIZE + " from the configuration (spark-submit "
          + "--conf, spark-defaults.conf).");
    }
  }

  /** With dynamic sizing off, Spark's off-heap pool is the limit and must exist. */
  static void checkStaticSplit(SparkConf conf) {
    boolean enabled = conf.getBoolean(OFF_HEAP_ENABLED, false);
    String size = conf.get(OFF_HEAP_SIZE, "0");
    long bytes;
    try {
      bytes = JavaUtils.byteStringAsBytes(size);
    } catch (RuntimeException e) {
      bytes = -1;
    }
    if (!enabled || bytes <= 0) {
      throw new IllegalArgumentException("Dynamic off-heap sizing plugin: with "
          + PluginSettings.DYNAMIC_SIZING.key() + "=false, native memory is limited by Spark's "
          + "off-heap pool, but " + OFF_HEAP_ENABLED + "=" + enabled + " and " + OFF_HEAP_SIZE
          + "=" + size + ". Set " + OFF_HEAP_ENABLED + "=true and " + OFF_HEAP_SIZE
          + " to a size above 0 (e.g. 2g), or set " + PluginSettings.DYNAMIC_SIZING.key()
          + "=true to size native memory dynamically within spark.executor.memory.");
    }
  }
}

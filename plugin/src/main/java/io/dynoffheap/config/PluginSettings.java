package io.dynoffheap.config;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;

/**
 * Every setting of the plugin: keys, defaults, validation and documentation live here and
 * nowhere else. Keys that Gluten also has keep Gluten's names; the plugin's own start with
 * {@code spark.dynoffheap.}. {@code docs/configuration.md} is generated from {@link #ALL} and a
 * test keeps it in step.
 *
 * <p>{@link #from(SparkConf)} reads all of them at once and reports every bad value in one
 * exception, so a user fixes the configuration in one round.
 */
public final class PluginSettings {
  static final long MIB = 1L << 20;

  public static final Setting<Boolean> DYNAMIC_SIZING = Setting.bool(
      "spark.gluten.memory.dynamic.offHeap.sizing.enabled", false,
      "Dynamic off-heap sizing: native memory and the committed heap share one budget, "
          + "spark.executor.memory, and Spark's own off-heap settings are ignored. When false, "
          + "native memory is still tracked, against Spark's off-heap pool "
          + "(spark.memory.offHeap.enabled=true and spark.memory.offHeap.size are then required).");

  public static final Setting<Double> MEMORY_FRACTION = Setting.fraction(
      "spark.gluten.memory.dynamic.offHeap.sizing.memory.fraction", 0.6,
      "Share of (executor memory - 300 MiB) that native code is told it may plan for, divided by "
          + "the task slots: the per-task size hint. A hint for sizing buffers, not a cap.");

  public static final Setting<Long> RESERVATION_BLOCK = Setting.bytes(
      "spark.gluten.memory.reservationBlockSize", "8m", 4096, 1L << 30,
      "Native pools reserve memory from the JVM in blocks of this size, so most allocations "
          + "never call into the JVM; each task's memory tree reserves from Spark and the "
          + "executor quota in blocks of this size, so most reservations never call Spark.");

  public static final Setting<Integer> GC_RETRIES = Setting.integer(
      "spark.dynoffheap.gc.retries", 3, 0, 100,
      "How many times a native request that does not fit retries after the first GC episode "
          + "before the task fails.");

  public static final Setting<Long> GC_BACKOFF = Setting.millis(
      "spark.dynoffheap.gc.backoff", "20ms", 0, 60_000,
      "The first wait between retries; it doubles at each retry.");

  public static final Setting<Long> GC_INTERVAL = Setting.millis(
      "spark.dynoffheap.gc.interval", "1s", 0, 600_000,
      "Least time between the end of one GC episode and the start of the next, so a steady "
          + "shortfall cannot cause a GC storm.");

  public static final Setting<Boolean> HEAP_SHRINK = Setting.bool(
      "spark.dynoffheap.gc.heapShrink.enabled", true,
      "Lower MinHeapFreeRatio/MaxHeapFreeRatio during a GC episode so the JVM gives free heap "
          + "back to the OS (both are restored afterwards).");

  public static final Setting<String> LEAK_CHECK = Setting.choice(
      "spark.dynoffheap.leakCheck", "warn",
      "What to do when a task ends with native memory still reserved (it is always released): "
          + "warn logs the usage tree, fail also fails the task (for tests).",
      "warn", "fail");

  public static final Setting<Long> BUDGET = Setting.bytes(
      "spark.dynoffheap.budget", "0", 0, 1L << 44,
      "The executor's budget for heap and native memory together; 0 means the executor JVM's "
          + "max heap (spark.executor.memory). Set it only if the container is larger than the heap.");

  public static final Setting<String> TIMELINE_DIR = Setting.text(
      "spark.dynoffheap.timeline.dir",
      "A directory on each executor's machine where the executor writes its memory timeline "
          + "(CSV: committed heap, tracked native bytes, budget, GC episodes, spills, denials over "
          + "time), one file per executor. Empty: no timeline.");

  public static final Setting<Long> TIMELINE_INTERVAL = Setting.millis(
      "spark.dynoffheap.timeline.interval", "100ms", 10, 60_000,
      "How often the memory timeline is sampled.");

  /** All settings, in the order the documentation lists them. */
  public static final List<Setting<?>> ALL = List.of(DYNAMIC_SIZING, MEMORY_FRACTION,
      RESERVATION_BLOCK, GC_RETRIES, GC_BACKOFF, GC_INTERVAL, HEAP_SHRINK, LEAK_CHECK, BUDGET,
      TIMELINE_DIR, TIMELINE_INTERVAL);

  private final boolean dynamicSizing;
  private final double memoryFraction;
  private final long reservationBlock;
  private final int gcRetries;
  private final long gcBackoffMillis;
  private final long gcIntervalMillis;
  private final boolean heapShrink;
  private final boolean failOnLeak;
  private final long budgetOverride;
  private final String timelineDir;
  private final long timelineIntervalMillis;

  private PluginSettings(Reader reader) {
    dynamicSizing = reader.read(DYNAMIC_SIZING);
    memoryFraction = reader.read(MEMORY_FRACTION);
    reservationBlock = reader.read(RESERVATION_BLOCK);
    gcRetries = reader.read(GC_RETRIES);
    gcBackoffMillis = reader.read(GC_BACKOFF);
    gcIntervalMillis = reader.read(GC_INTERVAL);
    heapShrink = reader.read(HEAP_SHRINK);
    failOnLeak = reader.read(LEAK_CHECK).equals("fail");
    budgetOverride = reader.read(BUDGET);
    timelineDir = reader.read(TIMELINE_DIR);
    timelineIntervalMillis = reader.read(TIMELINE_INTERVAL);
  }

  /** Reads and checks every setting; throws one exception that lists every bad value. */
  public static PluginSettings from(SparkConf conf) {
    Reader reader = new Reader(conf);
    PluginSettings settings = new PluginSettings(reader);
    if (!reader.errors.isEmpty()) {
      throw new IllegalArgumentException("Dynamic off-heap sizing plugin: invalid configuration:\n  "
          + String.join("\n  ", reader.errors));
    }
    return settings;
  }

  public boolean dynamicSizing() {
    return dynamicSizing;
  }

  public double memoryFraction() {
    return memoryFraction;
  }

  public long reservationBlock() {
    return reservationBlock;
  }

  public int gcRetries() {
    return gcRetries;
  }

  public long gcBackoffMillis() {
    return gcBackoffMillis;
  }

  public long gcIntervalMillis() {
    return gcIntervalMillis;
  }

  public boolean heapShrink() {
    return heapShrink;
  }

  public boolean failOnLeak() {
    return failOnLeak;
  }

  /** Where executors write their memory timeline; empty when they do not. */
  public String timelineDir() {
    return timelineDir;
  }

  public long timelineIntervalMillis() {
    return timelineIntervalMillis;
  }

  /** The budget for heap and native memory given the JVM's max heap. */
  public long budget(long maxHeap) {
    return budgetOverride > 0 ? budgetOverride : maxHeap;
  }

  /** The documentation table of every setting, as docs/configuration.md shows it. */
  public static String markdownTable() {
    StringBuilder out = new StringBuilder("| Key | Default | Allowed | Meaning |\n|---|---|---|---|\n");
    for (Setting<?> setting : ALL) {
      out.append("| `").append(setting.key()).append("` | `").append(setting.defaultText())
          .append("` | ").append(setting.allowed()).append(" | ").append(setting.meaning())
          .append(" |\n");
    }
    return out.toString();
  }

  /** Reads settings one by one, collecting errors instead of stopping at the first. */
  private static final class Reader {
    private final SparkConf conf;
    private final List<String> errors = new ArrayList<>();

    Reader(SparkConf conf) {
      this.conf = conf;
    }

    /** The setting's value, or its default after noting the error. */
    <T> T read(Setting<T> setting) {
      try {
        return setting.read(conf);
      } catch (IllegalArgumentException e) {
        errors.add(e.getMessage());
        return setting.defaultValue();
      }
    }
  }
}

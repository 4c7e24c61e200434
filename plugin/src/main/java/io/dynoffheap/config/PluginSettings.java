package io.dynoffheap.config;

import io.dynoffheap.memory.Arguments;
import io.dynoffheap.memory.Bytes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.apache.spark.SparkConf;

/**
 * Every setting of the plugin: keys, defaults, validation and documentation live here and
 * nowhere else. Keys that Gluten also has keep Gluten's names; the plugin's own start with
 * {@code spark.dynoffheap.}. {@code docs/configuration.md} is generated from {@link #ALL} and a
 * test keeps it in step.
 *
 * <p>{@link #from(SparkConf)} reads all of them at once and reports every bad value, and every
 * key under the plugin's own prefixes that is no setting (with the setting most likely meant, see
 * {@link UnknownKeys}), in one exception, so a user fixes the configuration in one round.
 * {@link #forDriver} adds the check of the budget against the executors' heap and machine
 * ({@link #budgetProblem}), which executors can only log.
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

  public static final Setting<Boolean> HEAP_WATCH = Setting.bool(
      "spark.dynoffheap.gc.heapWatch.enabled", true,
      "With dynamic sizing: when the heap has grown on its own so that committed heap + native "
          + "memory passes 90 % of the budget (native holding 10 % or more), start a shared GC "
          + "episode that lets the heap shrink, at most once per spark.dynoffheap.gc.interval. "
          + "When false the executor only measures how far heap + native went over the budget "
          + "(metrics budgetOvershootPeakBytes, timeAboveBudgetMs).");

  public static final Setting<String> LEAK_CHECK = Setting.choice(
      "spark.dynoffheap.leakCheck", "warn",
      "What to do when a task ends with native memory still reserved (it is always released): "
          + "warn logs the usage tree, fail also fails the task (for tests).",
      "warn", "fail");

  public static final Setting<Long> BUDGET = Setting.bytes(
      "spark.dynoffheap.budget", "0", 0, Arguments.MAX_BYTES,
      "The executor's budget for heap and native memory together; 0 means the executor JVM's "
          + "max heap (spark.executor.memory). Set it only if the container is larger than the "
          + "heap. Checked at start: at least the executor's max heap, which the heap alone may "
          + "commit, and at most the physical memory of the executor's machine.");

  public static final Setting<Boolean> DEBUG = Setting.bool(
      "spark.dynoffheap.debug", false,
      "Debug mode: every reservation of a task's memory nodes records the Java stack that made "
          + "it, the task's native pools run in libdynoffheap's debug mode (every native "
          + "allocation records the native function that made it, every free is checked), and "
          + "leak reports print the stacks and the native sites of the bytes still held. Costs a "
          + "stack trace per reservation and a lock per native allocation and free: for tests "
          + "and reproductions. For the history of Arrow buffers, also start executors with "
          + "-Darrow.memory.debug.allocator=true.");

  public static final Setting<String> TIMELINE_DIR = Setting.text(
      "spark.dynoffheap.timeline.dir",
      "A directory on each executor's machine where the executor writes its memory timeline "
          + "(CSV: committed heap, tracked native bytes, budget, GC episodes, spills, denials over "
          + "time), one file per executor. Empty: no timeline.");

  public static final Setting<Long> TIMELINE_INTERVAL = Setting.millis(
      "spark.dynoffheap.timeline.interval", "100ms", 10, 60_000,
      "How often the memory timeline is sampled.");

  public static final Setting<Long> TIMELINE_EVENT_LOG_INTERVAL = Setting.millis(
      "spark.dynoffheap.timeline.eventLog.interval", "1s", 0, 600_000,
      "With spark.eventLog.enabled=true: how often each executor samples its memory timeline "
          + "for the event log. Executors send the samples to the driver in batches (at most 50 "
          + "samples or 5 s of them each, the rest when the executor stops), and the driver "
          + "writes each batch to the event log as an io.dynoffheap.timeline.MemoryTimelineEvent. "
          + "0: no timeline in the event log.");

  /** All settings, in the order the documentation lists them. */
  public static final List<Setting<?>> ALL = List.of(DYNAMIC_SIZING, MEMORY_FRACTION,
      RESERVATION_BLOCK, GC_RETRIES, GC_BACKOFF, GC_INTERVAL, HEAP_SHRINK, HEAP_WATCH, LEAK_CHECK,
      BUDGET,
      DEBUG, TIMELINE_DIR, TIMELINE_INTERVAL, TIMELINE_EVENT_LOG_INTERVAL);

  private final boolean dynamicSizing;
  private final double memoryFraction;
  private final long reservationBlock;
  private final int gcRetries;
  private final long gcBackoffMillis;
  private final long gcIntervalMillis;
  private final boolean heapShrink;
  private final boolean heapWatch;
  private final boolean failOnLeak;
  private final long budgetOverride;
  private final boolean debug;
  private final String timelineDir;
  private final long timelineIntervalMillis;
  private final long timelineEventLogIntervalMillis;

  private PluginSettings(Reader reader) {
    dynamicSizing = reader.read(DYNAMIC_SIZING);
    memoryFraction = reader.read(MEMORY_FRACTION);
    reservationBlock = reader.read(RESERVATION_BLOCK);
    gcRetries = reader.read(GC_RETRIES);
    gcBackoffMillis = reader.read(GC_BACKOFF);
    gcIntervalMillis = reader.read(GC_INTERVAL);
    heapShrink = reader.read(HEAP_SHRINK);
    heapWatch = reader.read(HEAP_WATCH);
    failOnLeak = reader.read(LEAK_CHECK).equals("fail");
    budgetOverride = reader.read(BUDGET);
    debug = reader.read(DEBUG);
    timelineDir = reader.read(TIMELINE_DIR);
    timelineIntervalMillis = reader.read(TIMELINE_INTERVAL);
    timelineEventLogIntervalMillis = reader.read(TIMELINE_EVENT_LOG_INTERVAL);
  }

  /**
   * Reads and checks every setting and rejects unknown keys of the plugin's prefixes; throws one
   * exception that lists every error.
   */
  public static PluginSettings from(SparkConf conf) {
    return read(conf, settings -> Optional.empty());
  }

  /**
   * {@link #from}, plus the budget checked against the executors ({@link #budgetProblem}), all
   * errors in one exception: what the driver runs at start.
   *
   * @param executorHeap the executors' max heap (spark.executor.memory), in bytes
   * @param machineMemory the physical memory of the executors' machine in bytes, 0 if the driver
   *     cannot know it (it can in local mode only)
   */
  public static PluginSettings forDriver(SparkConf conf, long executorHeap, long machineMemory) {
    return read(conf, settings -> settings.budgetProblem(executorHeap, machineMemory));
  }

  /** Reads every setting, then adds the unknown keys' errors and {@code check}'s to the values'. */
  private static PluginSettings read(SparkConf conf,
      Function<PluginSettings, Optional<String>> check) {
    Reader reader = new Reader(conf);
    PluginSettings settings = new PluginSettings(reader);
    reader.errors.addAll(UnknownKeys.errors(conf, ALL.stream().map(Setting::key).toList()));
    check.apply(settings).ifPresent(reader.errors::add);
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

  /** Whether the heap watch starts GC episodes, or only measures (gc.heapWatch.enabled). */
  public boolean heapWatch() {
    return heapWatch;
  }

  public boolean failOnLeak() {
    return failOnLeak;
  }

  /** Whether memory nodes record where their reservations were made (spark.dynoffheap.debug). */
  public boolean debug() {
    return debug;
  }

  /** Where executors write their memory timeline; empty when they do not. */
  public String timelineDir() {
    return timelineDir;
  }

  public long timelineIntervalMillis() {
    return timelineIntervalMillis;
  }

  /** How often executors sample their timeline for the event log; 0 when they do not. */
  public long timelineEventLogIntervalMillis() {
    return timelineEventLogIntervalMillis;
  }

  /** The budget for heap and native memory given the JVM's max heap. */
  public long budget(long maxHeap) {
    return budgetOverride > 0 ? budgetOverride : maxHeap;
  }

  /**
   * What is wrong with a budget set by {@link #BUDGET} on an executor with this max heap and
   * machine, if anything. The budget must be at least the max heap: the heap alone may commit that
   * much, and a smaller budget then leaves native code nothing (every reservation fails). It must
   * be at most the machine's physical memory (when known, i.e. above 0): above it the OS kills the
   * executor before the plugin denies a single request.
   */
  public Optional<String> budgetProblem(long maxHeap, long machineMemory) {
    long ceiling = machineMemory > 0 ? machineMemory : Arguments.MAX_BYTES;
    if (budgetOverride == 0 || (budgetOverride >= maxHeap && budgetOverride <= ceiling)) {
      return Optional.empty();
    }
    String reason = budgetOverride < maxHeap
        ? "below the executor's max heap (spark.executor.memory), which the heap alone may commit, "
            + "so native code would get nothing once the heap has grown"
        : "above the physical memory of the executor's machine, so the OS would kill the "
            + "executor before the plugin denies a request";
    return Optional.of("Invalid value " + Bytes.format(budgetOverride) + " for " + BUDGET.key()
        + ": it is " + reason + ". Allowed: 0 (the executor's max heap) or a size in ["
        + Bytes.format(maxHeap) + ", " + Bytes.format(ceiling) + "]: from the executor's max heap "
        + "to " + (machineMemory > 0 ? "the machine's physical memory" : "the largest budget")
        + ".");
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

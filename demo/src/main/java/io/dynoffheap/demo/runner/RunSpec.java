package io.dynoffheap.demo.runner;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One memory configuration the job runs with: the executor memory, and how native memory is
 * sized within or beside it. The demo compares the first two on the same executor memory; the
 * job benchmarks use all three.
 *
 * <ul>
 *   <li>{@link #dynamic}: the plugin with its toggle on: one budget, spark.executor.memory, for
 *       committed heap and native memory;
 *   <li>{@link #staticSplit}: the plugin with the toggle off over Spark's off-heap pool, the split
 *       users configure today;
 *   <li>{@link #noPlugin}: no plugin at all; the native operator runs on plain malloc (the same C
 *       code over the sample operator's malloc pool) and nothing limits it.
 * </ul>
 *
 * @param label               folder and file names ("dynamic", "static", "no-plugin")
 * @param title               how reports name the run
 * @param executorMemoryBytes spark.executor.memory: the executor's max heap
 * @param conf                the run's own spark-submit settings (on top of the common ones)
 * @param offHeapBytes        Spark's off-heap pool of the static split, 0 otherwise: the
 *                            cluster manager must grant executor memory plus this much
 * @param jobArguments        the run's own arguments of the job (after the data sizes)
 */
record RunSpec(String label, String title, long executorMemoryBytes, Map<String, String> conf,
    long offHeapBytes, List<String> jobArguments) {
  static final String TOGGLE = "spark.gluten.memory.dynamic.offHeap.sizing.enabled";
  static final String PLUGIN_CLASS = "io.dynoffheap.DynamicOffHeapSizingPlugin";
  /** The demo's executor memory. */
  static final long DEMO_EXECUTOR_MEMORY_BYTES = 1L << 30;
  /** Spark's default memory overhead of an executor on YARN and Kubernetes: at least this. */
  static final long MIN_OVERHEAD_BYTES = 384L << 20;

  /** With the plugin's toggle on: one budget, spark.executor.memory, for heap and native. */
  static RunSpec dynamic(long executorMemoryBytes) {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("spark.plugins", PLUGIN_CLASS);
    conf.put(TOGGLE, "true");
    return new RunSpec("dynamic", "dynamic sizing on", executorMemoryBytes, conf, 0,
        List.of("--native-memory", "plugin"));
  }

  /** The split users configure today: the heap, plus a fixed off-heap pool for native memory. */
  static RunSpec staticSplit(long executorMemoryBytes, long offHeapBytes) {
    String size = mebibytes(offHeapBytes);
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("spark.plugins", PLUGIN_CLASS);
    conf.put(TOGGLE, "false");
    conf.put("spark.memory.offHeap.enabled", "true");
    conf.put("spark.memory.offHeap.size", size);
    return new RunSpec("static", "static split (off-heap " + size + ")", executorMemoryBytes,
        conf, offHeapBytes, List.of("--native-memory", "plugin"));
  }

  /**
   * The static split inside the container of {@link #dynamic}{@code (executorMemoryBytes)}: the
   * heap is what the off-heap pool leaves of the executor memory, so a cluster manager grants the
   * same memory (a heap below 3840 MiB keeps the 384 MiB minimum overhead, so the containers are
   * equal): what a user who keeps the container and splits it by hand would run.
   */
  static RunSpec staticSplitWithin(long executorMemoryBytes, long offHeapBytes) {
    RunSpec split = staticSplit(executorMemoryBytes - offHeapBytes, offHeapBytes);
    return new RunSpec("static-within", "static split within " + Sizes.format(executorMemoryBytes)
        + " (heap " + mebibytes(executorMemoryBytes - offHeapBytes) + " + off-heap "
        + mebibytes(offHeapBytes) + ")", split.executorMemoryBytes(), split.conf(), offHeapBytes,
        split.jobArguments());
  }

  /**
   * No plugin: spark.plugins is not set, and the operator allocates with plain malloc. The plugin
   * jar stays on the class path only because it carries JNA, which Spark does not ship.
   */
  static RunSpec noPlugin(long executorMemoryBytes) {
    return new RunSpec("no-plugin", "no plugin (plain malloc)", executorMemoryBytes,
        new LinkedHashMap<>(), 0, List.of("--native-memory", "malloc"));
  }

  /** The same configuration with more settings of its own (they win over the spec's). */
  RunSpec withConf(Map<String, String> more) {
    Map<String, String> merged = new LinkedHashMap<>(conf);
    merged.putAll(more);
    return new RunSpec(label, title, executorMemoryBytes, merged, offHeapBytes, jobArguments);
  }

  boolean isDynamic() {
    return "true".equals(conf.get(TOGGLE));
  }

  /** spark-submit's --executor-memory value. */
  String executorMemory() {
    return mebibytes(executorMemoryBytes);
  }

  /** What a cluster manager (YARN, Kubernetes) reserves per executor for this configuration. */
  long grantedPerExecutor() {
    return executorMemoryBytes + offHeapBytes;
  }

  /**
   * The container a cluster manager would grant and enforce (it kills the executor, exit 137,
   * when the process's resident memory goes beyond it): the granted memory plus Spark's default
   * spark.executor.memoryOverhead, max(384 MiB, 10 % of the executor memory).
   */
  long containerBytes() {
    return grantedPerExecutor() + Math.max(MIN_OVERHEAD_BYTES, executorMemoryBytes / 10);
  }

  private static String mebibytes(long bytes) {
    return (bytes >> 20) + "m";
  }
}

package io.dynoffheap.demo.runner;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One configuration the demo job runs with. Both runs give executors the same
 * {@code spark.executor.memory}; they differ only in how native memory is sized.
 *
 * @param label        folder and file names ("dynamic", "static")
 * @param title        how the report names the run
 * @param conf         the run's own spark-submit settings (on top of the common ones)
 * @param offHeapBytes Spark's off-heap pool of the static split, 0 with dynamic sizing: the
 *                     cluster manager must grant executor memory plus this much per executor
 */
record RunSpec(String label, String title, Map<String, String> conf, long offHeapBytes) {
  static final String TOGGLE = "spark.gluten.memory.dynamic.offHeap.sizing.enabled";
  static final String EXECUTOR_MEMORY = "1g";
  static final long EXECUTOR_MEMORY_BYTES = 1L << 30;

  /** With the plugin's toggle on: one budget, spark.executor.memory, for heap and native. */
  static RunSpec dynamic() {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put(TOGGLE, "true");
    return new RunSpec("dynamic", "dynamic sizing on", conf, 0);
  }

  /** The split users configure today: the heap, plus a fixed off-heap pool for native memory. */
  static RunSpec staticSplit(String offHeapSize, long offHeapBytes) {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put(TOGGLE, "false");
    conf.put("spark.memory.offHeap.enabled", "true");
    conf.put("spark.memory.offHeap.size", offHeapSize);
    return new RunSpec("static", "static split (off-heap " + offHeapSize + ")", conf, offHeapBytes);
  }

  boolean isDynamic() {
    return offHeapBytes == 0;
  }

  /** What a cluster manager (YARN, Kubernetes) reserves per executor for this configuration. */
  long grantedPerExecutor() {
    return EXECUTOR_MEMORY_BYTES + offHeapBytes;
  }
}

package io.dynoffheap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.config.PluginSettings;
import io.dynoffheap.memory.TreeNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * The plugin loaded by Spark from spark.plugins in local mode: RDD and SQL tasks reserve and
 * release through the public API, metrics are registered, leaks are reported, and bad
 * configuration fails the application at start.
 */
class PluginInLocalSparkTest {
  private static final long MIB = 1L << 20;
  private static final String SOURCE = "plugin." + DynamicOffHeapSizingPlugin.class.getName();

  @Test
  void rddAndSqlTasksReserveThroughThePluginAndMetricsAreRegistered() throws Exception {
    Path timelines = Files.createTempDirectory(Path.of("target"), "timeline");
    try (SparkSession spark = session(true)
        .config(PluginSettings.TIMELINE_DIR.key(), timelines.toString()).getOrCreate()) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      List<Long> fromRdd = jsc.parallelize(Arrays.asList(1, 2, 3, 4), 4)
          .map(i -> reserveAndRelease("rdd-op", i * MIB))
          .collect();
      assertEquals(Arrays.asList(MIB, 2 * MIB, 3 * MIB, 4 * MIB), fromRdd);

      MapPartitionsFunction<Long, Long> sqlOp = rows -> {
        long sum = 0;
        while (rows.hasNext()) {
          sum += rows.next();
        }
        return List.of(reserveAndRelease("sql-op", 2 * MIB) + sum).iterator();
      };
      long total = spark.range(0, 100, 1, 4).as(Encoders.LONG()).mapPartitions(sqlOp, Encoders.LONG())
          .collectAsList().stream().mapToLong(Long::longValue).sum();
      assertEquals(4 * 2 * MIB + 4950, total);

      ExecutorMemory executor = NativeMemory.executor();
      assertEquals(8, executor.stats().granted());
      assertEquals(0, executor.stats().nativeBytes());
      assertTrue(executor.stats().peakNativeBytes() >= 4 * MIB);
      assertEquals(0, executor.quota().nativeBytes());
      assertEquals(0, executor.openTasks());
      assertTrue(SparkEnv.get().metricsSystem().getSourcesByName(SOURCE).nonEmpty(),
          "metrics source " + SOURCE + " is registered");
    }
    try (Stream<Path> files = Files.list(timelines)) {
      List<String> lines = Files.readAllLines(files.findFirst().orElseThrow());
      assertEquals(MemoryTimeline.HEADER, lines.get(0));
      assertTrue(lines.size() > 1, "at least one sample");
      String[] sample = lines.get(1).split(",");
      assertEquals(11, sample.length);
      assertEquals("0", sample[8], "dynamic sizing: Spark's off-heap execution memory is off");
      assertTrue(Long.parseLong(sample[10]) > 16 * MIB, "the resident set: " + sample[10]);
    }
  }

  @Test
  void aTaskThatLeaksIsReportedAndReleased() throws Exception {
    try (SparkSession spark = session(true).getOrCreate()) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      long leaked = jsc.parallelize(Arrays.asList(1, 2), 2).map(i -> {
        NativeMemory.currentTask().newNode("forgetful").reserve(MIB);
        return 1;
      }).count();
      assertEquals(2, leaked);
      ExecutorMemory executor = NativeMemory.executor();
      assertEquals(2, executor.stats().leaks());
      assertEquals(2 * MIB, executor.stats().leakedBytes());
      assertEquals(0, executor.stats().nativeBytes());
    }
  }

  @Test
  void strictLeakCheckFailsTheLeakingTask() throws Exception {
    try (SparkSession spark = session(true).config(PluginSettings.LEAK_CHECK.key(), "fail")
        .config("spark.task.maxFailures", "1").getOrCreate()) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      SparkException error = assertThrows(SparkException.class,
          () -> jsc.parallelize(Arrays.asList(1), 1).map(i -> {
            NativeMemory.currentTask().newNode("forgetful").reserve(MIB);
            return 1;
          }).count());
      assertTrue(error.getMessage().contains("Native memory leak"), error.getMessage());
      assertTrue(error.getMessage().contains("forgetful held 1048576"), error.getMessage());
    }
  }

  @Test
  void debugModeShowsWhereTheLeakedBytesWereReserved() throws Exception {
    try (SparkSession spark = session(true).config(PluginSettings.LEAK_CHECK.key(), "fail")
        .config(PluginSettings.DEBUG.key(), "true")
        .config("spark.task.maxFailures", "1").getOrCreate()) {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      SparkException error = assertThrows(SparkException.class,
          () -> jsc.parallelize(Arrays.asList(1), 1).map(i -> forget(MIB)).count());
      String message = error.getMessage();
      assertTrue(message.contains("forgetful held 1048576 (1.0 MiB); reserved at "
          + "(spark.dynoffheap.debug):\n    1048576 (1.0 MiB) by thread 'Executor task launch"),
          message);
      assertTrue(message.contains("at " + PluginInLocalSparkTest.class.getName() + ".forget("),
          message);
    }
  }

  @Test
  void badConfigurationFailsTheApplicationAtStart() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> session(true).config(PluginSettings.GC_RETRIES.key(), "lots").getOrCreate());
    assertTrue(error.getMessage().contains("spark.dynoffheap.gc.retries"), error.getMessage());
    assertTrue(error.getMessage().contains("[0, 100]"), error.getMessage());
  }

  @Test
  void aMisspeltKeyAndABudgetBelowTheHeapFailTheStartInOneMessage() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> session(true).config("spark.dynoffheap.leakcheck", "fail")
            .config(PluginSettings.BUDGET.key(), "1k").getOrCreate());
    String message = error.getMessage();
    assertTrue(message.contains("Unknown setting spark.dynoffheap.leakcheck=fail"), message);
    assertTrue(message.contains("Did you mean spark.dynoffheap.leakCheck?"), message);
    assertTrue(message.contains("Invalid value 1024 (1.0 KiB) for spark.dynoffheap.budget: it is below the "
        + "executor's max heap"), message);
    assertTrue(SparkSession.getActiveSession().isEmpty(), "no session was started");
  }

  @Test
  void staticSplitWithoutOffHeapPoolFailsAtStart() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> session(false).getOrCreate());
    assertTrue(error.getMessage().contains("spark.memory.offHeap.size"), error.getMessage());
  }

  @Test
  void leftOverOffHeapSettingsWouldGrowYarnAndKubernetesContainersSoTheyFailThere() throws Exception {
    try (SparkSession spark = session(true).config("spark.memory.offHeap.enabled", "true")
        .config("spark.memory.offHeap.size", "2g").getOrCreate()) {
      // Spark 3.5 and 4.0 built the default profile, which YARN and Kubernetes size containers
      // from, before the plugin switched off-heap memory off; 4.1 and later build it after.
      long profileOffHeapMiB = DriverSide.defaultProfileOffHeapMiB(spark.sparkContext());
      assertTrue(profileOffHeapMiB == 2048 || profileOffHeapMiB == 0, "" + profileOffHeapMiB);
      assertEquals("false", spark.sparkContext().getConf().get("spark.memory.offHeap.enabled"));
      if (profileOffHeapMiB > 0) {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
            () -> DriverSide.checkContainerSize("yarn", profileOffHeapMiB));
        assertTrue(error.getMessage().contains("2048 MiB larger"), error.getMessage());
        assertTrue(error.getMessage().contains("Remove spark.memory.offHeap.enabled and "
            + "spark.memory.offHeap.size"), error.getMessage());
        assertThrows(IllegalArgumentException.class,
            () -> DriverSide.checkContainerSize("k8s://https://api:6443", profileOffHeapMiB));
      }
    }
    DriverSide.checkContainerSize("spark://master:7077", 2048); // standalone: no container
    DriverSide.checkContainerSize("local[2]", 2048);
    DriverSide.checkContainerSize("yarn", 0);
  }

  private static int forget(long bytes) {
    NativeMemory.currentTask().newNode("forgetful").reserve(bytes);
    return 1;
  }

  private static long reserveAndRelease(String name, long bytes) {
    TreeNode node = NativeMemory.currentTask().newNode(name);
    node.reserve(bytes);
    long held = node.usedBytes();
    node.repay(bytes);
    return held;
  }

  private static SparkSession.Builder session(boolean dynamic) {
    SparkSession.getActiveSession().foreach(s -> { s.stop(); return null; });
    return SparkSession.builder().master("local[2]").appName("plugin-local")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.plugins", DynamicOffHeapSizingPlugin.class.getName())
        .config(PluginSettings.DYNAMIC_SIZING.key(), Boolean.toString(dynamic));
  }
}

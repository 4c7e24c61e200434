package io.dynoffheap.demo.job;

import static org.apache.spark.sql.functions.bit_xor;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.xxhash64;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;

/**
 * The demo application, submitted by the runner with spark-submit, once per configuration.
 *
 * <ol>
 *   <li>JVM stage: an aggregation of generated rows into many groups (Spark's hash aggregation
 *       and a shuffle). It grows the executor's heap.
 *   <li>Native stage: each task sorts generated keys with the native operator (a few hundred
 *       MiB of native memory across the running tasks) and feeds them, in the same task, to a
 *       JVM-side aggregation with a shuffle. The result is checked against the input. The
 *       operator allocates through a pool of the plugin, or, for the benchmarks' no-plugin
 *       baseline ({@code --native-memory malloc}), with plain malloc.
 * </ol>
 *
 * <p>The clock starts once the executor has run one trivial task per partition, that is when it
 * is up (JVM started, registered with the driver, plugins initialised). The executor starts while
 * the driver plans its first query; without this wait its start-up, several seconds of class
 * loading and JIT compilation on the same cores, would run inside the first stage, unevenly from
 * one run to the next. The wait itself is recorded as {@code executorsReadyMillis}, the two
 * stages as {@code jvmStageMillis} and {@code nativeStageMillis}, both together as
 * {@code jobMillis}.
 *
 * <p>The driver writes what happened to {@code --result} (a properties file the runner reads)
 * whether the job succeeded or not, and prints progress lines starting with "[demo]".
 */
public final class DemoJob {
  private DemoJob() {}

  public static void main(String[] args) throws Exception {
    JobSettings settings = JobSettings.parse(args);
    Properties result = new Properties();
    result.setProperty("label", settings.label());
    result.setProperty("finished", "false");
    SparkSession spark = SparkSession.builder().appName("dynoffheap-demo-" + settings.label())
        .getOrCreate();
    SparkContext context = spark.sparkContext();
    result.setProperty("appId", context.applicationId());
    TaskOutcomes outcomes = new TaskOutcomes();
    context.addSparkListener(outcomes);
    boolean finished = false;
    try (Progress progress = new Progress(context, settings.label())) {
      long ready = System.nanoTime();
      awaitExecutors(context, settings.partitions());
      result.setProperty("executorsReadyMillis", String.valueOf(millisSince(ready)));
      long jobStart = System.nanoTime();
      try {
        long start = System.nanoTime();
        progress.step(String.format("JVM stage (%,d rows into %,d groups)", settings.jvmRows(),
            settings.jvmGroups()));
        jvmStage(spark, settings);
        result.setProperty("jvmStageMillis", String.valueOf(millisSince(start)));
        progress.say("JVM stage done in " + seconds(millisSince(start)));

        start = System.nanoTime();
        progress.step(String.format("native stage (%d native sorts of %,d records x %d B, then a "
            + "JVM aggregation)", settings.partitions(), settings.nativeRecords(),
            settings.recordBytes()));
        nativeStage(spark, settings, result);
        result.setProperty("nativeStageMillis", String.valueOf(millisSince(start)));
        progress.say("native stage done in " + seconds(millisSince(start)));
        finished = true;
      } catch (Exception e) {
        String reason = firstLine(e);
        result.setProperty("error", reason);
        progress.say("job FAILED: " + reason);
      }
      result.setProperty("jobMillis", String.valueOf(millisSince(jobStart)));
    }
    outcomes.awaitQuiet(5000);
    result.setProperty("finished", String.valueOf(finished));
    result.setProperty("failedTasks", String.valueOf(outcomes.failed()));
    result.setProperty("oomTasks", String.valueOf(outcomes.outOfMemory()));
    result.setProperty("executorsLost", String.valueOf(outcomes.executorsLost()));
    result.setProperty("sparkMemorySpilled", String.valueOf(outcomes.memorySpilled()));
    result.setProperty("sparkDiskSpilled", String.valueOf(outcomes.diskSpilled()));
    result.setProperty("firstTaskFailure", outcomes.firstFailure());
    write(result, Path.of(settings.result()));
    spark.stop();
    if (!finished) {
      System.exit(1);
    }
  }

  /**
   * Returns once the executors have run one trivial task per partition (the job's task slots),
   * which they can only do when they are started, registered and their plugins initialised.
   */
  private static void awaitExecutors(SparkContext context, int slots) {
    List<Integer> one = new ArrayList<>();
    for (int i = 0; i < slots; i++) {
      one.add(i);
    }
    JavaSparkContext.fromSparkContext(context).parallelize(one, slots).count();
  }

  /** Aggregates generated rows into many groups; checks that every row was counted. */
  private static void jvmStage(SparkSession spark, JobSettings settings) {
    Row totals = spark.range(0, settings.jvmRows(), 1, settings.partitions())
        .select(pmod(xxhash64(col("id")), lit(settings.jvmGroups())).as("g"), col("id"))
        .groupBy("g").agg(count(lit(1)).as("n"), sum("id").as("s"))
        .agg(sum("n"), count(lit(1)))
        .first();
    long rows = totals.getLong(0);
    if (rows != settings.jvmRows()) {
      throw new IllegalStateException("the JVM stage counted " + rows + " rows instead of "
          + settings.jvmRows());
    }
  }

  /**
   * Native sort of each partition's keys, then a JVM aggregation of the sorted keys into groups;
   * checks the record count, the XOR of all keys, and the order of each task's output.
   */
  private static void nativeStage(SparkSession spark, JobSettings settings, Properties result) {
    SparkContext context = spark.sparkContext();
    LongAccumulator records = context.longAccumulator("native records");
    LongAccumulator spills = context.longAccumulator("native spills");
    LongAccumulator spilledRecords = context.longAccumulator("native spilled records");
    LongAccumulator outOfOrder = context.longAccumulator("keys out of order");
    long total = settings.nativeRecordsTotal();
    Dataset<Long> sorted = spark.range(0, total, 1, settings.partitions())
        .mapPartitions(new NativeSortTask(settings.recordBytes(), settings.spillDir(),
            settings.nativeSpill(), settings.pluginPool(), records,
            spills, spilledRecords, outOfOrder), Encoders.LONG());
    Row totals = sorted.toDF("key")
        .select(pmod(col("key"), lit(settings.jvmGroups())).as("g"), col("key"))
        .groupBy("g").agg(count(lit(1)).as("n"), bit_xor(col("key")).as("x"))
        .agg(sum("n"), bit_xor(col("x")))
        .first();
    long expectedXor = 0;
    for (long id = 0; id < total; id++) {
      expectedXor ^= NativeSortTask.key(id);
    }
    result.setProperty("nativeRecords", String.valueOf(records.value()));
    result.setProperty("nativeSpills", String.valueOf(spills.value()));
    result.setProperty("nativeSpilledRecords", String.valueOf(spilledRecords.value()));
    if (totals.getLong(0) != total || totals.getLong(1) != expectedXor) {
      throw new IllegalStateException("the native stage produced " + totals.getLong(0)
          + " records with XOR " + totals.getLong(1) + "; expected " + total + " records with XOR "
          + expectedXor);
    }
    if (outOfOrder.value() > 0) {
      throw new IllegalStateException("the native sort returned " + outOfOrder.value()
          + " keys out of order");
    }
  }

  private static void write(Properties result, Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Path partial = file.resolveSibling(file.getFileName() + ".tmp");
    try (Writer out = Files.newBufferedWriter(partial, StandardCharsets.UTF_8)) {
      result.store(out, "dynoffheap demo: result of one run");
    }
    Files.move(partial, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  /** The first line of the deepest cause's message: the reason, without Spark's stack dump. */
  private static String firstLine(Throwable e) {
    String message = e.getMessage() == null ? e.toString() : e.getClass().getSimpleName() + ": "
        + e.getMessage();
    return message.lines().findFirst().orElse(message);
  }

  private static long millisSince(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  private static String seconds(long millis) {
    return String.format("%.1f s", millis / 1000.0);
  }
}

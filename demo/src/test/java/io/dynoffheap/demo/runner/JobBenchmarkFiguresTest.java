package io.dynoffheap.demo.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The small pieces of arithmetic and parsing the job benchmarks' figures rest on. */
class JobBenchmarkFiguresTest {
  private static final long MIB = 1L << 20;

  @Test
  void readsTheHighWaterMarkOfAProcStatusText() {
    String status = "Name:\tjava\nVmPeak:\t 5000000 kB\nVmHWM:\t  1234567 kB\nVmRSS:\t 1000 kB\n";

    assertEquals(1234567L * 1024, PeakRss.highWaterMark(status));
    assertEquals(-1, PeakRss.highWaterMark("Name:\tkworker\n"));
  }

  @Test
  void medianOfOddAndEvenCounts() {
    assertEquals(3, PairedBenchmark.median(List.of(5L, 1L, 3L)));
    assertEquals(25, PairedBenchmark.median(List.of(40L, 10L, 20L, 30L)));
    assertEquals(-1, PairedBenchmark.median(List.of()));
  }

  @Test
  void tablesSayWhichRequestWasDeniedAndWhenTheContainerWasExceeded() {
    RunSpec spec = RunSpec.dynamic(1024 * MIB);
    Properties failed = new Properties();
    failed.setProperty("error", "SparkException: Job aborted due to stage failure: Task 0 in "
        + "stage 1.0 failed 1 times, most recent failure: Lost task 0.0 in stage 1.0 (TID 1) "
        + "(127.0.0.1 executor 0): org.apache.spark.memory.SparkOutOfMemoryError: "
        + "[UNABLE_TO_ACQUIRE_MEMORY] Unable to acquire 8388608 bytes of memory, got 0 bytes");
    Trial denied = new Trial(spec, null, 512 * MIB, result(spec, 1, failed), 700 * MIB);
    Properties finished = new Properties();
    finished.setProperty("finished", "true");
    Trial killed = new Trial(spec, null, 1200 * MIB, result(spec, 0, finished), 1500 * MIB);

    assertEquals("task failed: SparkOutOfMemoryError, 8.0 MiB request denied",
        denied.shortOutcome());
    assertEquals("finished, but RSS 1500 MiB > container: killed (exit 137)",
        killed.shortOutcome());
    assertEquals(false, killed.completes());
  }

  private static RunResult result(RunSpec spec, int exitCode, Properties properties) {
    return new RunResult(spec, exitCode, false, 1000, properties, List.of(), Path.of("driver.log"),
        Path.of("."));
  }

  @Test
  void containerIsGrantedMemoryPlusTheDefaultOverhead() {
    assertEquals(1024 * MIB + 384 * MIB, RunSpec.dynamic(1024 * MIB).containerBytes());
    assertEquals(1024 * MIB + 384 * MIB, RunSpec.noPlugin(1024 * MIB).containerBytes());
    // The static split's off-heap pool is added to the container request.
    assertEquals(2048 * MIB + 1024 * MIB + 384 * MIB,
        RunSpec.staticSplit(2048 * MIB, 1024 * MIB).containerBytes());
    // The static split within the toggle's container: the same container, split by hand.
    for (long memory : List.of(1024 * MIB, 2048 * MIB)) {
      RunSpec within = RunSpec.staticSplitWithin(memory, memory * 3 / 10);
      assertEquals(RunSpec.dynamic(memory).containerBytes(), within.containerBytes());
      assertEquals(memory - memory * 3 / 10, within.executorMemoryBytes());
    }
    // 10 % once that is more than 384 MiB.
    assertEquals(8192 * MIB + 8192 * MIB / 10, RunSpec.dynamic(8192 * MIB).containerBytes());
  }
}

package io.dynoffheap.demo.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
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
    assertEquals(3, OverheadBenchmark.median(List.of(5L, 1L, 3L)));
    assertEquals(25, OverheadBenchmark.median(List.of(40L, 10L, 20L, 30L)));
    assertEquals(-1, OverheadBenchmark.median(List.of()));
  }

  @Test
  void containerIsGrantedMemoryPlusTheDefaultOverhead() {
    assertEquals(1024 * MIB + 384 * MIB, RunSpec.dynamic(1024 * MIB).containerBytes());
    assertEquals(1024 * MIB + 384 * MIB, RunSpec.noPlugin(1024 * MIB).containerBytes());
    // The static split's off-heap pool is added to the container request.
    assertEquals(2048 * MIB + 1024 * MIB + 384 * MIB,
        RunSpec.staticSplit(2048 * MIB, 1024 * MIB).containerBytes());
    // 10 % once that is more than 384 MiB.
    assertEquals(8192 * MIB + 8192 * MIB / 10, RunSpec.dynamic(8192 * MIB).containerBytes());
  }
}

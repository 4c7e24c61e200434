package io.dynoffheap.demo.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CapacitySearchTest {
  private static final long MIB = 1L << 20;

  /** A workload that completes up to {@code limit}; records the sizes tried. */
  private static CapacitySearch.Trial upTo(long limit, List<Long> tried) {
    return size -> {
      tried.add(size);
      return size <= limit;
    };
  }

  @Test
  void doublesThenBisectsToTheResolution() throws Exception {
    List<Long> tried = new ArrayList<>();
    CapacitySearch.Outcome outcome = new CapacitySearch(256 * MIB, 4096 * MIB, 16 * MIB, 0.05, 20)
        .run(upTo(700 * MIB, tried));

    assertEquals(List.of(256 * MIB, 512 * MIB, 1024 * MIB), tried.subList(0, 3));
    assertTrue(outcome.largestCompleted() <= 700 * MIB);
    assertTrue(outcome.smallestFailed() > 700 * MIB);
    assertTrue(outcome.smallestFailed() - outcome.largestCompleted()
        <= Math.max(16 * MIB, 0.05 * outcome.largestCompleted()), outcome.toString());
    assertEquals(tried.size(), outcome.trials());
  }

  @Test
  void halvesWhenTheStartFails() throws Exception {
    List<Long> tried = new ArrayList<>();
    CapacitySearch.Outcome outcome = new CapacitySearch(256 * MIB, 4096 * MIB, 16 * MIB, 0.05, 20)
        .run(upTo(100 * MIB, tried));

    assertEquals(List.of(256 * MIB, 128 * MIB, 64 * MIB), tried.subList(0, 3));
    assertTrue(outcome.largestCompleted() <= 100 * MIB && outcome.largestCompleted() >= 80 * MIB,
        outcome.toString());
  }

  @Test
  void stopsAtTheCeilingWhenEverythingCompletes() throws Exception {
    List<Long> tried = new ArrayList<>();
    CapacitySearch.Outcome outcome = new CapacitySearch(256 * MIB, 1408 * MIB, 16 * MIB, 0.05, 20)
        .run(upTo(Long.MAX_VALUE, tried));

    assertEquals(List.of(256 * MIB, 512 * MIB, 1024 * MIB, 1408 * MIB), tried);
    assertEquals(new CapacitySearch.Outcome(1408 * MIB, -1, 4), outcome);
  }

  @Test
  void nothingCompletesDownToOneGranule() throws Exception {
    CapacitySearch.Outcome outcome = new CapacitySearch(64 * MIB, 1024 * MIB, 16 * MIB, 0.05, 20)
        .run(size -> false);

    assertEquals(new CapacitySearch.Outcome(0, 16 * MIB, 3), outcome);
  }

  @Test
  void neverRunsMoreThanTheLimit() throws Exception {
    List<Long> tried = new ArrayList<>();
    CapacitySearch.Outcome outcome = new CapacitySearch(256 * MIB, 4096 * MIB, 16 * MIB, 0.05, 5)
        .run(upTo(700 * MIB, tried));

    assertEquals(5, tried.size());
    assertEquals(5, outcome.trials());
    assertTrue(outcome.largestCompleted() > 0 && outcome.smallestFailed() > 700 * MIB);
  }
}

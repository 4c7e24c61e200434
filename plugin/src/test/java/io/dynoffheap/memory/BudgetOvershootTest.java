package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class BudgetOvershootTest {
  private final BudgetOvershoot overshoot = new BudgetOvershoot();

  @Test
  void underTheBudgetNothingIsRecorded() {
    overshoot.sample(-100 * MIB, 0);
    overshoot.sample(0, 10);
    assertEquals(0, overshoot.peakExcessBytes());
    assertEquals(0, overshoot.nanosAboveBudget());
    assertEquals(0, overshoot.excursions());
  }

  @Test
  void eachExcursionCountsFromItsFirstSampleOverToItsFirstSampleUnder() {
    overshoot.sample(-1, 0);
    overshoot.sample(10 * MIB, 100);
    overshoot.sample(30 * MIB, 150);
    overshoot.sample(-5 * MIB, 300); // 200 ns above
    overshoot.sample(5 * MIB, 1_000);
    overshoot.sample(0, 1_050); // 50 ns above: at the budget is not over it
    assertEquals(30 * MIB, overshoot.peakExcessBytes());
    assertEquals(250, overshoot.nanosAboveBudget());
    assertEquals(2, overshoot.excursions());
  }

  @Test
  void aRunningExcursionCountsUpToTheLatestSample() {
    overshoot.sample(MIB, 1_000);
    assertEquals(0, overshoot.nanosAboveBudget());
    overshoot.sample(2 * MIB, 1_400);
    assertEquals(400, overshoot.nanosAboveBudget());
    assertEquals(1, overshoot.excursions());
    assertEquals(2 * MIB, overshoot.peakExcessBytes());
  }
}

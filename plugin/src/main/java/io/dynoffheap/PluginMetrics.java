package io.dynoffheap;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import io.dynoffheap.memory.BudgetOvershoot;
import io.dynoffheap.memory.ExecutorQuota;
import io.dynoffheap.memory.GcCoordinator;
import io.dynoffheap.memory.IdleReclaim;
import io.dynoffheap.memory.MemoryStats;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The executor's metrics, registered in the plugin's registry, which Spark's metrics system
 * publishes under {@code plugin.io.dynoffheap.DynamicOffHeapSizingPlugin}. Their names are what
 * users' dashboards read: {@code MetricsSinkSuite} pins them, docs/configuration.md lists them.
 */
final class PluginMetrics {
  private PluginMetrics() {}

  static void register(MetricRegistry registry, ExecutorMemory memory) {
    MemoryStats stats = memory.stats();
    ExecutorQuota quota = memory.quota();
    GcCoordinator gc = memory.gc();
    IdleReclaim idle = memory.idle();
    gauge(registry, "nativeBytes", stats::nativeBytes);
    gauge(registry, "nativeBytesPeak", stats::peakNativeBytes);
    gauge(registry, "budget", quota::budget);
    gauge(registry, "committedHeap", quota::committedHeap);
    gauge(registry, "reservationsGranted", stats::granted);
    gauge(registry, "reservationsDenied", stats::denied);
    gauge(registry, "idleReclaimedBytes", idle::reclaimedBytes);
    gauge(registry, "idleSweeps", idle::completedSweeps);
    gauge(registry, "gcEpisodes", gc::completedEpisodes);
    gauge(registry, "gcTimeMs", () -> TimeUnit.NANOSECONDS.toMillis(gc.totalEpisodeNanos()));
    gauge(registry, "spilledBytes", stats::spilledBytes);
    gauge(registry, "leaks", stats::leaks);
    gauge(registry, "leakedBytes", stats::leakedBytes);
    gauge(registry, "openTasks", memory::openTasks);
    BudgetOvershoot overshoot = memory.overshoot();
    gauge(registry, "budgetOvershootPeakBytes", overshoot::peakExcessBytes);
    gauge(registry, "timeAboveBudgetMs",
        () -> TimeUnit.NANOSECONDS.toMillis(overshoot.nanosAboveBudget()));
  }

  private static void gauge(MetricRegistry registry, String name, LongSupplier value) {
    registry.register(name, (Gauge<Long>) value::getAsLong);
  }
}

package io.dynoffheap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.config.PluginSettings;
import io.dynoffheap.timeline.MemorySample;
import io.dynoffheap.timeline.MemoryTimelineEvent;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkConf;
import org.apache.spark.api.plugin.PluginContext;
import org.junit.jupiter.api.Test;

/** What an executor sends to the driver: batches of its samples, the rest when it stops. */
class TimelineShipperTest {

  private static ExecutorMemory memory() {
    PluginSettings settings = PluginSettings.from(new SparkConf(false));
    return new ExecutorMemory(settings, MemoryPlan.of(settings, 1L << 30, 2, 1));
  }

  private final AtomicInteger attempts = new AtomicInteger();

  /** A plugin context whose send() records the message, or fails when {@code failing}. */
  private PluginContext context(List<Object> sent, boolean failing) {
    return (PluginContext) Proxy.newProxyInstance(PluginContext.class.getClassLoader(),
        new Class<?>[] {PluginContext.class}, (proxy, method, args) -> switch (method.getName()) {
          case "executorID" -> "3";
          case "send" -> {
            attempts.incrementAndGet();
            if (failing) {
              throw new IOException("driver gone");
            }
            sent.add(args[0]);
            yield null;
          }
          default -> throw new UnsupportedOperationException(method.getName());
        });
  }

  @Test
  void samplesGoToTheDriverInBatchesAndTheRestAtClose() throws Exception {
    List<Object> sent = new CopyOnWriteArrayList<>();
    TimelineShipper shipper = new TimelineShipper(context(sent, false), memory(), 5);
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (sent.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    shipper.close();
    int afterClose = sent.size();
    Thread.sleep(50);
    assertEquals(afterClose, sent.size(), "nothing after close");
    assertTrue(afterClose >= 2, "the rest left at close");

    List<MemorySample> samples = sent.stream().map(m -> (MemoryTimelineEvent) m)
        .peek(event -> assertEquals("3", event.executorId))
        .peek(event -> assertTrue(event.samples.size() <= TimelineShipper.BATCH_SAMPLES))
        .flatMap(event -> event.samples.stream()).toList();
    assertEquals(TimelineShipper.BATCH_SAMPLES,
        ((MemoryTimelineEvent) sent.get(0)).samples.size());
    for (int i = 1; i < samples.size(); i++) {
      assertTrue(samples.get(i).epochMs >= samples.get(i - 1).epochMs, "oldest first");
    }
    assertTrue(samples.stream().allMatch(s -> s.budget == 1L << 30 && s.committedHeap > 0));
  }

  @Test
  void aSendThatFailsEndsTheSamplingAndCloseSendsNothing() throws Exception {
    List<Object> sent = new CopyOnWriteArrayList<>();
    TimelineShipper shipper = new TimelineShipper(context(sent, true), memory(), 1);
    Thread.sleep(300); // 50 samples at 1 ms: the first batch fails
    shipper.close();
    assertEquals(List.of(), sent);
    assertEquals(1, attempts.get(), "one failed send, then none: not even at close");
  }
}

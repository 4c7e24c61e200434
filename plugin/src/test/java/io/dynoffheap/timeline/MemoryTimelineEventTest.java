package io.dynoffheap.timeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.util.JsonProtocol;
import org.junit.jupiter.api.Test;

/** The event goes into Spark's event log and comes back out as Spark itself writes and reads it. */
class MemoryTimelineEventTest {

  @Test
  void sparksJsonProtocolWritesAndReadsTheEvent() {
    MemoryTimelineEvent event = new MemoryTimelineEvent("7",
        List.of(SampleBatcherTest.at(100), new MemorySample(200, 1L << 30, 300L << 20, 64L << 20,
            2, 40, 1 << 20, 1, 5, 6, 7, 8, 900L << 20)));
    String json = JsonProtocol.sparkEventToJsonString(event);
    assertTrue(json.contains("\"Event\":\"" + MemoryTimelineEvent.EVENT_NAME + "\""), json);
    assertTrue(json.contains("\"nativeBytes\":" + (64L << 20)), json);

    SparkListenerEvent read = JsonProtocol.sparkEventFromJson(json);
    MemoryTimelineEvent back = (MemoryTimelineEvent) read;
    assertEquals("7", back.executorId);
    assertEquals(2, back.samples.size());
    MemorySample second = back.samples.get(1);
    assertEquals(event.samples.get(1).csvLine(), second.csvLine());
    assertEquals(5, second.sparkOnHeapExecution);
    assertEquals(6, second.sparkOnHeapStorage);
  }
}

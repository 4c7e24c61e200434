package io.dynoffheap.timeline;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.Serializable;
import java.util.List;
import org.apache.spark.scheduler.SparkListenerEvent;

/**
 * A batch of one executor's {@link MemorySample}s, oldest first: what an executor sends to the
 * driver over the plugin's RPC and the driver posts, unchanged, to Spark's listener bus, so the
 * event log (spark.eventLog.enabled) keeps every executor's memory timeline with the application.
 *
 * <p>Spark's JsonProtocol writes events it does not know with Jackson, adding an {@code "Event"}
 * field with the class name ({@link #EVENT_NAME}); the history server reads them back through
 * the annotated constructor (public final fields and {@link JsonCreator}/{@link JsonProperty},
 * understood by every Jackson Spark 3.5 to 4.x ships).
 */
public final class MemoryTimelineEvent implements SparkListenerEvent, Serializable {
  private static final long serialVersionUID = 1L;

  /** The value of the event log's "Event" field for this event. */
  public static final String EVENT_NAME = MemoryTimelineEvent.class.getName();

  public final String executorId;
  public final List<MemorySample> samples;

  @JsonCreator
  public MemoryTimelineEvent(@JsonProperty("executorId") String executorId,
      @JsonProperty("samples") List<MemorySample> samples) {
    this.executorId = executorId;
    this.samples = List.copyOf(samples);
  }

  @Override
  public String toString() {
    return "MemoryTimelineEvent[executor " + executorId + ", " + samples.size() + " samples]";
  }
}

package io.dynoffheap.timeline;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.Serializable;

/**
 * One executor's memory at one instant: the budget, what holds it (committed heap, the plugin's
 * native bytes, Spark's own execution and storage memory on and off the heap, the resident set)
 * and the running counts whose rises mark events (GC episodes and their time, spilled bytes,
 * denied reservations). Immutable.
 *
 * <p>The same object is a line of the executor's CSV timeline ({@link #csvLine}), travels to the
 * driver inside a {@link MemoryTimelineEvent} (Java serialisation), and is written to and read
 * back from Spark's event log by Jackson: public final fields, and a constructor whose parameters
 * are named with {@link JsonProperty}, which Jackson 2.15 (Spark 3.5) to 2.20 (Spark 4.x) all
 * use to deserialise.
 */
public final class MemorySample implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The columns of {@link #csvLine}. */
  public static final String CSV_HEADER = "epoch_ms,budget,committed_heap,native_bytes,gc_episodes,"
      + "gc_time_ms,spilled_bytes,reservations_denied,spark_offheap_execution,spark_offheap_storage,"
      + "rss_bytes";

  public final long epochMs;
  public final long budget;
  public final long committedHeap;
  public final long nativeBytes;
  public final long gcEpisodes;
  public final long gcTimeMs;
  public final long spilledBytes;
  public final long reservationsDenied;
  /** Spark's on-heap execution memory (inside the committed heap). */
  public final long sparkOnHeapExecution;
  /** Spark's on-heap storage memory: cached blocks (inside the committed heap). */
  public final long sparkOnHeapStorage;
  /** Spark's off-heap execution memory other than the plugin's (Tungsten pages). */
  public final long sparkOffHeapExecution;
  public final long sparkOffHeapStorage;
  /** The process's resident set; -1 where the system does not say. */
  public final long rssBytes;

  @JsonCreator
  public MemorySample(@JsonProperty("epochMs") long epochMs, @JsonProperty("budget") long budget,
      @JsonProperty("committedHeap") long committedHeap,
      @JsonProperty("nativeBytes") long nativeBytes,
      @JsonProperty("gcEpisodes") long gcEpisodes, @JsonProperty("gcTimeMs") long gcTimeMs,
      @JsonProperty("spilledBytes") long spilledBytes,
      @JsonProperty("reservationsDenied") long reservationsDenied,
      @JsonProperty("sparkOnHeapExecution") long sparkOnHeapExecution,
      @JsonProperty("sparkOnHeapStorage") long sparkOnHeapStorage,
      @JsonProperty("sparkOffHeapExecution") long sparkOffHeapExecution,
      @JsonProperty("sparkOffHeapStorage") long sparkOffHeapStorage,
      @JsonProperty("rssBytes") long rssBytes) {
    this.epochMs = epochMs;
    this.budget = budget;
    this.committedHeap = committedHeap;
    this.nativeBytes = nativeBytes;
    this.gcEpisodes = gcEpisodes;
    this.gcTimeMs = gcTimeMs;
    this.spilledBytes = spilledBytes;
    this.reservationsDenied = reservationsDenied;
    this.sparkOnHeapExecution = sparkOnHeapExecution;
    this.sparkOnHeapStorage = sparkOnHeapStorage;
    this.sparkOffHeapExecution = sparkOffHeapExecution;
    this.sparkOffHeapStorage = sparkOffHeapStorage;
    this.rssBytes = rssBytes;
  }

  /** The sample as a line of the CSV timeline, columns {@link #CSV_HEADER}, no line end. */
  public String csvLine() {
    return epochMs + "," + budget + "," + committedHeap + "," + nativeBytes + "," + gcEpisodes + ","
        + gcTimeMs + "," + spilledBytes + "," + reservationsDenied + "," + sparkOffHeapExecution + ","
        + sparkOffHeapStorage + "," + rssBytes;
  }

  @Override
  public String toString() {
    return "MemorySample[" + CSV_HEADER + "=" + csvLine() + "]";
  }
}

package io.dynoffheap.timeline;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The memory timelines of one application's executors, as its event log holds them: the
 * samples of every {@link MemoryTimelineEvent}, per executor, oldest first. Executors are
 * ordered by id, numerically where ids are numbers ("2" before "10").
 */
public final class ApplicationTimelines {
  private static final Comparator<String> EXECUTOR_ORDER = Comparator
      .comparingLong((String id) -> id.matches("\\d{1,18}") ? Long.parseLong(id) : Long.MAX_VALUE)
      .thenComparing(Comparator.naturalOrder());

  private final String appId;
  private final String appName;
  private final Map<String, List<MemorySample>> byExecutor;

  ApplicationTimelines(String appId, String appName, List<MemoryTimelineEvent> events) {
    this.appId = appId;
    this.appName = appName;
    Map<String, List<MemorySample>> samples = new TreeMap<>(EXECUTOR_ORDER);
    for (MemoryTimelineEvent event : events) {
      samples.computeIfAbsent(event.executorId, id -> new ArrayList<>()).addAll(event.samples);
    }
    samples.values().forEach(list -> list.sort(Comparator.comparingLong(s -> s.epochMs)));
    this.byExecutor = samples;
  }

  /** The application's id (SparkListenerApplicationStart), or the log's name if it has none. */
  public String appId() {
    return appId;
  }

  public String appName() {
    return appName;
  }

  /** Executor id to its samples, oldest first; empty when the log has no timeline events. */
  public Map<String, List<MemorySample>> byExecutor() {
    return byExecutor;
  }

  /** The earliest sample's time, the charts' zero; 0 without samples. */
  public long firstEpochMs() {
    return byExecutor.values().stream().mapToLong(list -> list.get(0).epochMs).min().orElse(0);
  }
}

package io.dynoffheap.demo.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TimelineTest {
  static final long MIB = 1L << 20;

  /**
   * A timeline CSV as the plugin writes it; rows are budget, heap, native, gc, gcMs, spilled,
   * denied, Spark off-heap execution, Spark off-heap storage, RSS.
   */
  static Path csv(Path dir, String name, long[]... rows) throws IOException {
    StringBuilder text = new StringBuilder(Timeline.HEADER).append('\n');
    long time = 1_700_000_000_000L;
    for (long[] row : rows) {
      text.append(time);
      for (long value : row) {
        text.append(',').append(value);
      }
      text.append('\n');
      time += 100;
    }
    return Files.writeString(dir.resolve(name), text);
  }

  @Test
  void readsPeaksAndRunningTotals(@TempDir Path dir) throws IOException {
    Timeline timeline = Timeline.read(csv(dir, "timeline-app-1-executor-0.csv",
        new long[] {1024 * MIB, 100 * MIB, 0, 0, 0, 0, 0, 0, 0, 150 * MIB},
        new long[] {1024 * MIB, 900 * MIB, 0, 0, 0, 0, 0, 0, 0, 950 * MIB},
        new long[] {1024 * MIB, 200 * MIB, 300 * MIB, 1, 40, 0, 0, 64 * MIB, 16 * MIB, 600 * MIB},
        new long[] {1024 * MIB, 250 * MIB, 500 * MIB, 1, 40, 8 * MIB, 2, 0, 0, 800 * MIB}));

    assertEquals(4, timeline.samples().size());
    assertEquals(1024 * MIB, timeline.budget());
    assertEquals(900 * MIB, timeline.peakCommittedHeap());
    assertEquals(500 * MIB, timeline.peakNativeBytes());
    assertEquals(80 * MIB, timeline.peakSparkOffHeap());
    assertEquals(900 * MIB, timeline.peakTotal());
    assertEquals(950 * MIB, timeline.peakRss());
    assertEquals(580 * MIB, timeline.samples().get(2).total(), "heap + native + Spark off-heap");
    assertEquals(1, timeline.gcEpisodes());
    assertEquals(40, timeline.gcTimeMillis());
    assertEquals(8 * MIB, timeline.spilledBytes());
    assertEquals(2, timeline.denied());
    assertEquals(300, timeline.endMillis() - timeline.startMillis());
    assertEquals(List.of(timeline.samples().get(2)), timeline.rises(Timeline.Sample::gcEpisodes));
    assertEquals(List.of(timeline.samples().get(3)), timeline.rises(Timeline.Sample::denied));
  }

  @Test
  void skipsALastLineCutShortByAKilledExecutor(@TempDir Path dir) throws IOException {
    Path file = csv(dir, "timeline-app-1-executor-0.csv", new long[] {1, 2, 3, 0, 0, 0, 0, 0, 0, -1});
    Files.writeString(file, Files.readString(file) + "1700000000100,1,2");

    assertEquals(1, Timeline.read(file).samples().size());
  }

  @Test
  void refusesAFileThatIsNotATimeline(@TempDir Path dir) throws IOException {
    Path file = Files.writeString(dir.resolve("timeline-x.csv"), "a,b,c\n1,2,3\n");

    assertThrows(IOException.class, () -> Timeline.read(file));
  }

  @Test
  void readsEveryExecutorsTimelineOfARunOldestFirst(@TempDir Path dir) throws IOException {
    csv(dir, "timeline-app-1-executor-1.csv", new long[] {1, 2, 3, 0, 0, 0, 0, 0, 0, -1});
    csv(dir, "timeline-app-1-executor-0.csv", new long[] {1, 2, 3, 0, 0, 0, 0, 0, 0, -1});
    Files.writeString(dir.resolve("notes.txt"), "not a timeline");

    assertEquals(2, Timeline.readAll(dir).size());
    assertEquals(List.of(), Timeline.readAll(dir.resolve("missing")));
  }
}

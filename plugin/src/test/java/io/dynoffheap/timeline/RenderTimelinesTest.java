package io.dynoffheap.timeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.spark.SparkConf;
import org.apache.spark.io.CompressionCodec;
import org.apache.spark.util.JsonProtocol;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Event logs written here as Spark writes them, drawn by the command. */
class RenderTimelinesTest {
  private static final long MIB = 1L << 20;
  private static final String APP_START = "{\"Event\":\"SparkListenerApplicationStart\","
      + "\"App Name\":\"sorting <fast>\",\"App ID\":\"app-20260101000000-0007\",\"Timestamp\":1}";

  @TempDir
  Path dir;

  /** Two executors, samples split over events, one GC, one spill and one denial on executor 1. */
  static List<String> lines() {
    List<String> lines = new ArrayList<>(List.of(APP_START,
        "{\"Event\":\"SparkListenerJobStart\",\"Job ID\":0}"));
    for (int batch = 0; batch < 3; batch++) {
      for (String executor : List.of("10", "2")) {
        List<MemorySample> samples = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
          long t = 1_000 + (batch * 5 + i) * 100L;
          int step = batch * 5 + i;
          samples.add(new MemorySample(t, 1024 * MIB, (200 + step * 10) * MIB, step * 20 * MIB,
              step > 7 ? 1 : 0, step > 7 ? 30 : 0, step > 9 ? 64 * MIB : 0, step > 11 ? 1 : 0,
              50 * MIB, 5 * MIB, 0, 0, 700 * MIB));
        }
        lines.add(JsonProtocol.sparkEventToJsonString(new MemoryTimelineEvent(executor, samples)));
      }
    }
    lines.add("{\"Event\":\"SparkListenerApplicationEnd\",\"Timestamp\":3000}");
    return lines;
  }

  @Test
  void aPlainEventLogBecomesOnePageWithAChartPerExecutor() throws IOException {
    Path log = dir.resolve("app-20260101000000-0007");
    Files.write(log, lines(), StandardCharsets.UTF_8);
    List<Path> pages = RenderTimelines.render(log, dir.resolve("out"));

    assertEquals(List.of(dir.resolve("out/timeline-app-20260101000000-0007.html")), pages);
    String html = Files.readString(pages.get(0));
    assertTrue(html.contains("sorting &lt;fast&gt;"), html);
    int executor2 = html.indexOf("<h2>Executor 2</h2>");
    int executor10 = html.indexOf("<h2>Executor 10</h2>");
    assertTrue(executor2 > 0 && executor10 > executor2, "executors in numeric order: " + html);
    assertTrue(html.contains("15 samples; budget 1024.0 MiB; peak native 280.0 MiB"), html);
    assertTrue(html.contains("GC episodes 1; spilled 64.0 MiB; denied reservations 1"), html);
    for (String id : List.of("2", "10")) {
      Path png = dir.resolve("out/timeline-app-20260101000000-0007-executor-" + id + ".png");
      assertTrue(html.contains("src=\"" + png.getFileName() + "\""), html);
      BufferedImage image = ImageIO.read(png.toFile());
      assertEquals(TimelinePlot.WIDTH, image.getWidth());
      assertEquals(TimelinePlot.HEIGHT, image.getHeight());
    }
  }

  @Test
  void aRollingCompressedLogInADirectoryOfLogsIsReadInPartOrder() throws IOException {
    Path rolling = Files.createDirectories(dir.resolve("logs/eventlog_v2_app-20260101000000-0007"));
    List<String> lines = lines();
    CompressionCodec zstd = CompressionCodec.createCodec(new SparkConf(false), "zstd");
    // Part 10 before part 2 in name order: the reader must go by the number.
    writeCompressed(zstd, rolling.resolve("events_2_app-20260101000000-0007.zstd"),
        lines.subList(4, lines.size()));
    writeCompressed(zstd, rolling.resolve("events_1_app-20260101000000-0007.zstd"),
        lines.subList(0, 4));
    Files.writeString(rolling.resolve("appstatus_app-20260101000000-0007"), "");

    List<ApplicationTimelines> apps = new EventLogReader().read(dir.resolve("logs"));
    assertEquals(1, apps.size());
    assertEquals("app-20260101000000-0007", apps.get(0).appId());
    assertEquals(List.of("2", "10"), List.copyOf(apps.get(0).byExecutor().keySet()));
    assertEquals(15, apps.get(0).byExecutor().get("2").size());
    assertEquals(1_000, apps.get(0).firstEpochMs());
    assertEquals(1, RenderTimelines.render(dir.resolve("logs"), dir.resolve("out")).size());
  }

  @Test
  void aLastLineCutShortIsSkippedAndABrokenLineElsewhereNamesItsPlace() throws IOException {
    Path log = dir.resolve("app-1.inprogress");
    List<String> lines = new ArrayList<>(lines());
    String last = lines.remove(lines.size() - 2);
    lines.set(lines.size() - 1, last.substring(0, last.length() / 2));
    Files.write(log, lines, StandardCharsets.UTF_8);
    assertEquals(10, new EventLogReader().read(log).get(0).byExecutor().get("2").size());

    lines.add("{\"Event\":\"SparkListenerApplicationEnd\"}");
    Files.write(log, lines, StandardCharsets.UTF_8);
    IOException error = assertThrows(IOException.class, () -> new EventLogReader().read(log));
    assertTrue(error.getMessage().contains("app-1.inprogress line " + (lines.size() - 1)),
        error.getMessage());
  }

  @Test
  void aLogWithoutTimelinesSaysWhatToTurnOn() throws IOException {
    Path log = dir.resolve("app-20260101000000-0001");
    Files.write(log, List.of(APP_START.replace("0007", "0001")), StandardCharsets.UTF_8);
    IllegalStateException error = assertThrows(IllegalStateException.class,
        () -> RenderTimelines.render(log, dir.resolve("out")));
    assertTrue(error.getMessage().contains("[app-20260101000000-0001]"), error.getMessage());
    assertTrue(error.getMessage().contains("spark.eventLog.enabled=true"), error.getMessage());
  }

  private static void writeCompressed(CompressionCodec codec, Path file, List<String> lines)
      throws IOException {
    try (OutputStream out = codec.compressedOutputStream(Files.newOutputStream(file))) {
      out.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
    }
  }
}

package io.dynoffheap.demo.runner;

import static io.dynoffheap.demo.runner.TimelineTest.MIB;
import static io.dynoffheap.demo.runner.TimelineTest.csv;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.xml.sax.InputSource;

/** The comparison table and the pictures, from hand-made results and timelines. */
class ReportTest {

  private static RunResult run(Path dir, RunSpec spec, boolean finished, long[]... rows)
      throws IOException {
    Path runDir = Files.createDirectories(dir.resolve(spec.label()));
    Path timelines = Files.createDirectories(runDir.resolve("timeline"));
    csv(timelines, "timeline-app-" + spec.label() + "-executor-0.csv", rows);
    Properties result = new Properties();
    result.setProperty("finished", String.valueOf(finished));
    result.setProperty("jobMillis", "12000");
    result.setProperty("nativeSpills", finished ? "0" : "3");
    result.setProperty("nativeSpilledRecords", "0");
    result.setProperty("sparkMemorySpilled", "0");
    result.setProperty("oomTasks", finished ? "0" : "4");
    result.setProperty("failedTasks", finished ? "0" : "4");
    result.setProperty("executorsLost", "0");
    if (!finished) {
      result.setProperty("error", "SparkException: Job aborted due to stage failure: Task 0 in "
          + "stage 6.0 failed 4 times, most recent failure: Lost task 0.3 in stage 6.0 (TID 15) "
          + "(127.0.0.1 executor 0): org.apache.spark.memory.SparkOutOfMemoryError: "
          + "[UNABLE_TO_ACQUIRE_MEMORY] Unable to acquire 1048576 bytes of memory, got 0 bytes");
    }
    return new RunResult(spec, finished ? 0 : 1, false, 20_000, result,
        Timeline.readAll(timelines), runDir.resolve("driver.log"), runDir);
  }

  private static List<RunResult> twoRuns(Path dir) throws IOException {
    return List.of(
        run(dir, RunSpec.dynamic(RunSpec.DEMO_EXECUTOR_MEMORY_BYTES), true,
            new long[] {1024 * MIB, 900 * MIB, 0, 0, 0, 0, 0, 0, 0, 960 * MIB},
            new long[] {1024 * MIB, 150 * MIB, 300 * MIB, 1, 60, 0, 0, 0, 0, 520 * MIB},
            new long[] {1024 * MIB, 160 * MIB, 310 * MIB, 1, 60, 0, 0, 0, 0, 540 * MIB}),
        run(dir, RunSpec.staticSplit(RunSpec.DEMO_EXECUTOR_MEMORY_BYTES, 300 * MIB), false,
            new long[] {1024 * MIB, 400 * MIB, 0, 0, 0, 0, 0, 200 * MIB, 0, 700 * MIB},
            new long[] {1024 * MIB, 400 * MIB, 290 * MIB, 0, 0, 16 * MIB, 0, 100 * MIB, 0, 880 * MIB},
            new long[] {1024 * MIB, 400 * MIB, 300 * MIB, 0, 0, 16 * MIB, 1, 0, 0, 900 * MIB}));
  }

  @Test
  void tableShowsBothRunsSideBySide(@TempDir Path dir) throws IOException {
    String table = new Comparison(twoRuns(dir)).render();

    assertTrue(table.contains("dynamic sizing on"), table);
    assertTrue(table.contains("static split (off-heap 300m)"), table);
    assertTrue(table.matches("(?s).*\\n  finished\\s+yes\\s+NO: SparkOutOfMemoryError: .*"), table);
    assertTrue(table.matches("(?s).*peak tracked native bytes\\s+310\\.0 MiB\\s+300\\.0 MiB\\n.*"), table);
    assertTrue(table.matches("(?s).*peak Spark off-heap \\(own pages\\)\\s+0 B\\s+200\\.0 MiB\\n.*"), table);
    assertTrue(table.matches(
        "(?s).*peak heap \\+ native \\+ Spark off-heap\\s+900\\.0 MiB\\s+790\\.0 MiB\\n.*"), table);
    assertTrue(table.matches("(?s).*peak RSS \\(timeline\\)\\s+960\\.0 MiB\\s+900\\.0 MiB\\n.*"), table);
    assertTrue(table.matches("(?s).*GC episodes \\(plugin\\)\\s+1 \\(60 ms\\)\\s+0 \\(0 ms\\)\\n.*"), table);
    assertTrue(table.matches("(?s).*memory granted per executor\\s+1\\.0 GiB \\(heap\\)\\s+1\\.3 GiB.*"), table);
    assertTrue(table.matches("(?s).*OOMs \\(task failures\\)\\s+0\\s+4\\n.*"), table);
  }

  @Test
  void failureReasonIsSparksRootCauseWithoutTheStageBoilerplate(@TempDir Path dir)
      throws IOException {
    String reason = twoRuns(dir).get(1).failureReason();

    assertTrue(reason.startsWith("SparkOutOfMemoryError: [UNABLE_TO_ACQUIRE_MEMORY]"), reason);
  }

  @Test
  void chartIsWellFormedSvgWithTheSeriesLimitsAndMarks(@TempDir Path dir) throws Exception {
    List<RunResult> runs = twoRuns(dir);
    TimelineChart.Scale scale = TimelineChart.Scale.covering(runs);
    RunResult fixed = runs.get(1);
    String svg = new TimelineChart("static", fixed.spec(), fixed.timelines().get(0), scale).svg();

    Document document = DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(new InputSource(new StringReader(svg)));
    assertEquals("svg", document.getDocumentElement().getNodeName());
    assertEquals(5, document.getElementsByTagName("polyline").getLength(),
        "sum, RSS, heap, native, Spark off-heap");
    assertTrue(svg.contains("native limit: spark.memory.offHeap.size = 300.0 MiB"), svg);
    assertTrue(svg.contains("granted per executor: heap + off-heap = 1.3 GiB"), svg);
    assertTrue(svg.contains("spill at 0.1 s: 16.0 MiB freed"), "a spill mark");
    assertTrue(scale.maxBytes() >= RunSpec.DEMO_EXECUTOR_MEMORY_BYTES + (300 * MIB), "room for the "
        + "granted line");
  }

  @Test
  void pagesAreSelfContained(@TempDir Path dir) throws IOException {
    List<RunResult> runs = twoRuns(dir);
    ReportPages pages = new ReportPages(JobSize.QUICK, TimelineChart.Scale.covering(runs));

    ReportPages.RunPictures pictures = pages.writeRun(runs.get(0), "spark-submit ...");
    Path report = pages.writeReport(runs, new Comparison(runs), dir.resolve("demo-report.html"));

    for (Path page : List.of(pictures.html(), report)) {
      String html = Files.readString(page);
      assertTrue(html.startsWith("<!DOCTYPE html>") && html.contains("<svg"), page.toString());
      assertFalse(html.contains("<script") || html.contains("<link") || html.contains("src=\""),
          page + " refers to other files");
    }
    assertTrue(Files.readString(report).contains("GC episode 1 at 0.1 s"), "GC mark tooltip");
  }
}

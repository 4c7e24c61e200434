package io.dynoffheap.demo.runner;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The pictures of the demo: per run, {@code memory-timeline.html} (a self-contained page with an
 * SVG chart per executor, no scripts or external files) and, when Java2D can draw text here,
 * {@code memory-timeline.png}; for the whole demo, {@code demo-report.html} with the comparison
 * table and the charts of both runs on the same axes.
 */
final class ReportPages {
  private static final String STYLE = "body{font-family:Helvetica,Arial,sans-serif;color:#222;"
      + "max-width:1000px;margin:24px auto;padding:0 12px}h1{font-size:22px}h2{font-size:18px;"
      + "margin-top:28px}table{border-collapse:collapse;margin:12px 0}th,td{padding:4px 12px;"
      + "border-bottom:1px solid #ddd;text-align:left;font-size:14px}th{background:#f4f4f4}"
      + "code{background:#f4f4f4;padding:1px 4px}.note{color:#555;font-size:14px}"
      + "svg{border:1px solid #ddd;margin:8px 0;max-width:100%;height:auto}";

  private final JobSize size;
  private final TimelineChart.Scale scale;

  ReportPages(JobSize size, TimelineChart.Scale scale) {
    this.size = size;
    this.scale = scale;
  }

  /** What was written for one run. */
  record RunPictures(Path html, List<Path> pngs, String pngProblem) {}

  /** Writes the run's page (and PNGs when possible) into the run's folder. */
  RunPictures writeRun(RunResult run, String commandLine) throws IOException {
    StringBuilder page = new StringBuilder();
    page.append(head("Memory timeline: " + run.spec().title()));
    page.append("<h1>Memory timeline: ").append(SvgCanvas.escape(run.spec().title())).append("</h1>\n");
    page.append("<p class=\"note\">").append(SvgCanvas.escape(size.describe())).append(". Executor: ")
        .append(run.spec().executorMemory()).append(", 2 cores. Submitted with:</p>\n<p><code>")
        .append(SvgCanvas.escape(commandLine)).append("</code></p>\n");
    page.append(table(new Comparison(List.of(run)).rows()));
    List<Path> pngs = new ArrayList<>();
    String pngProblem = null;
    int index = 0;
    for (Timeline timeline : run.timelines()) {
      TimelineChart chart = chart(run, timeline);
      page.append(chart.svg());
      Path png = run.dir().resolve(run.timelines().size() == 1 ? "memory-timeline.png"
          : "memory-timeline-" + (++index) + ".png");
      String problem = PngCanvas.tryWrite(TimelineChart.WIDTH, TimelineChart.HEIGHT, chart::draw, png);
      if (problem == null) {
        pngs.add(png);
      } else {
        pngProblem = problem;
      }
    }
    if (run.timelines().isEmpty()) {
      page.append("<p><b>No timeline:</b> no executor of this run wrote one (it did not start, "
          + "or the plugin was not loaded). See the driver log.</p>\n");
    }
    page.append(howToRead());
    page.append("<h2>Files</h2>\n<ul>\n");
    for (Timeline timeline : run.timelines()) {
      page.append(link(run.dir(), timeline.file(), "timeline CSV"));
    }
    page.append(link(run.dir(), run.driverLog(), "driver log"));
    page.append("</ul>\n</body>\n</html>\n");
    Path html = run.dir().resolve("memory-timeline.html");
    Files.writeString(html, page, StandardCharsets.UTF_8);
    return new RunPictures(html, pngs, pngProblem);
  }

  /** Writes the comparison page of all runs to {@code file}. */
  Path writeReport(List<RunResult> runs, Comparison comparison, Path file) throws IOException {
    StringBuilder page = new StringBuilder();
    page.append(head("Dynamic off-heap sizing demo"));
    page.append("<h1>Dynamic off-heap sizing: the same job, two configurations</h1>\n");
    page.append("<p class=\"note\">").append(SvgCanvas.escape(size.describe())).append(". Executor: ")
        .append(runs.get(0).spec().executorMemory()).append(", 2 cores, on a Spark standalone cluster.</p>\n");
    page.append(table(comparison.rows()));
    page.append("<ul>\n");
    for (String finding : comparison.findings()) {
      page.append("<li>").append(SvgCanvas.escape(finding)).append("</li>\n");
    }
    page.append("</ul>\n");
    for (RunResult run : runs) {
      page.append("<h2>").append(SvgCanvas.escape(run.spec().title())).append("</h2>\n");
      for (Timeline timeline : run.timelines()) {
        page.append(chart(run, timeline).svg());
      }
      if (run.timelines().isEmpty()) {
        page.append("<p>No timeline was written in this run.</p>\n");
      }
      page.append("<p class=\"note\">Details: <a href=\"")
          .append(SvgCanvas.escape(file.getParent().relativize(run.dir().resolve("memory-timeline.html"))
              .toString())).append("\">").append(SvgCanvas.escape(run.spec().label()))
          .append("/memory-timeline.html</a></p>\n");
    }
    page.append(howToRead()).append("</body>\n</html>\n");
    Files.writeString(file, page, StandardCharsets.UTF_8);
    return file;
  }

  private TimelineChart chart(RunResult run, Timeline timeline) {
    String executor = timeline.file().getFileName().toString().replaceAll(".*-executor-(.+)\\.csv", "$1");
    return new TimelineChart(run.spec().title() + ": executor " + executor, run.spec(), timeline,
        scale);
  }

  private static String head(String title) {
    return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
        + SvgCanvas.escape(title) + "</title>\n<style>" + STYLE + "</style>\n</head>\n<body>\n";
  }

  private static String table(List<List<String>> rows) {
    StringBuilder table = new StringBuilder("<table>\n");
    for (int r = 0; r < rows.size(); r++) {
      table.append("<tr>");
      for (String cell : rows.get(r)) {
        String tag = r == 0 ? "th" : "td";
        table.append('<').append(tag).append('>').append(SvgCanvas.escape(cell.strip()))
            .append("</").append(tag).append('>');
      }
      table.append("</tr>\n");
    }
    return table.append("</table>\n").toString();
  }

  private static String howToRead() {
    return "<h2>How to read the chart</h2>\n<ul class=\"note\">\n"
        + "<li><b>Committed heap</b> (blue) is what the executor JVM has taken from the operating "
        + "system for its heap (<code>Runtime.totalMemory()</code>), whether in use or not.</li>\n"
        + "<li><b>Tracked native bytes</b> (orange) are the native allocations reserved through "
        + "the plugin (the native operator's memory).</li>\n"
        + "<li><b>Heap + native</b> (black) is what the process holds of its memory. With dynamic "
        + "sizing the plugin keeps it below the budget, <code>spark.executor.memory</code>: when "
        + "a reservation does not fit it makes Spark spill, then runs one GC that lets the heap "
        + "shrink, retries, and only then fails the task.</li>\n"
        + "<li>With the static split, native memory is limited by Spark's off-heap pool and the "
        + "heap by <code>-Xmx</code>; a cluster manager must grant both.</li>\n"
        + "<li>Marks: dotted purple lines are GC episodes run by the plugin, brown triangles are "
        + "spills that freed bytes through the plugin (Spark or the plugin asked), red crosses "
        + "are denied reservations: the sample operator then spills to disk by itself (counted in "
        + "the table as native operator spills). Hover over a mark for details.</li>\n</ul>\n";
  }

  private static String link(Path from, Path to, String label) {
    String href = from.relativize(to).toString();
    return "<li><a href=\"" + SvgCanvas.escape(href) + "\">" + SvgCanvas.escape(label) + ": "
        + SvgCanvas.escape(href) + "</a></li>\n";
  }
}

package io.dynoffheap.timeline;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes one application's page: for every executor, a line of figures (budget, peaks of native
 * and of heap + native, GC episodes, spilled bytes, denied reservations over the run) and its
 * chart ({@link TimelinePlot}), the PNGs next to the page, named after it.
 */
final class TimelinePage {
  private static final double MIB = 1 << 20;

  private TimelinePage() {}

  /** Writes {@code timeline-<app>.html} and its PNGs into {@code outDir}; returns the page. */
  static Path write(ApplicationTimelines app, Path outDir) throws IOException {
    Files.createDirectories(outDir);
    String base = "timeline-" + app.appId().replaceAll("[^A-Za-z0-9._-]", "_");
    StringBuilder html = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        + "<title>Memory timelines of " + escape(app.appId()) + "</title></head>\n"
        + "<body style=\"font-family: sans-serif\">\n<h1>Memory timelines of "
        + escape(app.appName()) + " (" + escape(app.appId()) + ")</h1>\n");
    for (Map.Entry<String, List<MemorySample>> executor : app.byExecutor().entrySet()) {
      String id = executor.getKey();
      List<MemorySample> samples = executor.getValue();
      String png = base + "-executor-" + id.replaceAll("[^A-Za-z0-9._-]", "_") + ".png";
      TimelinePlot.write("Executor " + id, samples, app.firstEpochMs(), outDir.resolve(png));
      MemorySample first = samples.get(0);
      MemorySample last = samples.get(samples.size() - 1);
      html.append("<h2>Executor ").append(escape(id)).append("</h2>\n<p>")
          .append(samples.size()).append(" samples; budget ").append(mib(last.budget))
          .append("; peak native ")
          .append(mib(samples.stream().mapToLong(s -> s.nativeBytes).max().orElse(0)))
          .append("; peak heap + native ")
          .append(mib(samples.stream().mapToLong(s -> s.committedHeap + s.nativeBytes).max()
              .orElse(0)))
          .append("; GC episodes ").append(last.gcEpisodes - first.gcEpisodes)
          .append("; spilled ").append(mib(last.spilledBytes - first.spilledBytes))
          .append("; denied reservations ").append(last.reservationsDenied - first.reservationsDenied)
          .append("</p>\n<img src=\"").append(png).append("\" width=\"").append(TimelinePlot.WIDTH)
          .append("\" height=\"").append(TimelinePlot.HEIGHT).append("\" alt=\"memory timeline of "
              + "executor ").append(escape(id)).append("\">\n");
    }
    html.append("</body></html>\n");
    Path page = outDir.resolve(base + ".html");
    Files.writeString(page, html, StandardCharsets.UTF_8);
    return page;
  }

  private static String mib(long bytes) {
    return String.format("%.1f MiB", bytes / MIB);
  }

  private static String escape(String text) {
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\"", "&quot;");
  }
}

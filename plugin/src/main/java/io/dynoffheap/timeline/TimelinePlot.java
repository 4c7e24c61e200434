package io.dynoffheap.timeline;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToLongFunction;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * Draws one executor's memory timeline as a PNG line chart with JFreeChart: MiB over seconds
 * since the application's first sample, one line each for the budget, the committed heap, the
 * plugin's native bytes, heap + native (what the budget holds back), Spark's own execution and
 * storage memory on the heap and off it, and the resident set where the system reports it.
 *
 * <p>Events are vertical markers where a running count rises from one sample to the next: a GC
 * episode of the plugin (grey), a spill (blue), a denied reservation (red). One marker per kind
 * and sample, however much the count rose, so a storm shows as a band, not a blot.
 */
final class TimelinePlot {
  static final int WIDTH = 1000;
  static final int HEIGHT = 460;
  private static final double MIB = 1 << 20;

  private TimelinePlot() {}

  /** Writes the chart of {@code samples} (oldest first, at least one) to {@code png}. */
  static void write(String title, List<MemorySample> samples, long zeroEpochMs, Path png)
      throws IOException {
    XYSeriesCollection lines = new XYSeriesCollection();
    lines.addSeries(series("budget", samples, zeroEpochMs, s -> s.budget));
    lines.addSeries(series("committed heap", samples, zeroEpochMs, s -> s.committedHeap));
    lines.addSeries(series("native (plugin)", samples, zeroEpochMs, s -> s.nativeBytes));
    lines.addSeries(series("heap + native", samples, zeroEpochMs,
        s -> s.committedHeap + s.nativeBytes));
    lines.addSeries(series("Spark execution (heap)", samples, zeroEpochMs,
        s -> s.sparkOnHeapExecution));
    lines.addSeries(series("Spark storage (heap)", samples, zeroEpochMs, s -> s.sparkOnHeapStorage));
    lines.addSeries(series("Spark off-heap", samples, zeroEpochMs,
        s -> s.sparkOffHeapExecution + s.sparkOffHeapStorage));
    if (samples.stream().anyMatch(s -> s.rssBytes >= 0)) {
      lines.addSeries(series("resident set", samples, zeroEpochMs, s -> s.rssBytes));
    }
    NumberAxis time = new NumberAxis("seconds since the application's first sample");
    NumberAxis mib = new NumberAxis("MiB");
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
    Color[] colors = {Color.BLACK, new Color(0x1f77b4), new Color(0xd62728), new Color(0x9467bd),
        new Color(0x2ca02c), new Color(0x8c564b), new Color(0xe377c2), new Color(0xff7f0e)};
    for (int i = 0; i < lines.getSeriesCount(); i++) {
      renderer.setSeriesPaint(i, colors[i]);
      renderer.setSeriesStroke(i, new BasicStroke(i == 0 ? 2.5f : 1.5f));
    }
    XYPlot plot = new XYPlot(lines, time, mib, renderer);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    markEvents(plot, samples, zeroEpochMs);
    JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 14), plot, true);
    chart.setBackgroundPaint(Color.WHITE);
    ChartUtils.saveChartAsPNG(png.toFile(), chart, WIDTH, HEIGHT);
  }

  private static XYSeries series(String name, List<MemorySample> samples, long zeroEpochMs,
      ToLongFunction<MemorySample> bytes) {
    XYSeries series = new XYSeries(name, false, true);
    for (MemorySample sample : samples) {
      series.add(seconds(sample, zeroEpochMs), bytes.applyAsLong(sample) / MIB);
    }
    return series;
  }

  private static double seconds(MemorySample sample, long zeroEpochMs) {
    return (sample.epochMs - zeroEpochMs) / 1000.0;
  }

  private static void markEvents(XYPlot plot, List<MemorySample> samples, long zeroEpochMs) {
    for (int i = 1; i < samples.size(); i++) {
      MemorySample before = samples.get(i - 1);
      MemorySample now = samples.get(i);
      double at = seconds(now, zeroEpochMs);
      if (now.gcEpisodes > before.gcEpisodes) {
        plot.addDomainMarker(marker(at, "GC", Color.GRAY));
      }
      if (now.spilledBytes > before.spilledBytes) {
        plot.addDomainMarker(marker(at, "spill", new Color(0x1f77b4)));
      }
      if (now.reservationsDenied > before.reservationsDenied) {
        plot.addDomainMarker(marker(at, "denied", Color.RED));
      }
    }
  }

  private static ValueMarker marker(double seconds, String label, Color color) {
    ValueMarker marker = new ValueMarker(seconds, color, new BasicStroke(1f, BasicStroke.CAP_BUTT,
        BasicStroke.JOIN_MITER, 1f, new float[] {4f, 3f}, 0f));
    marker.setLabel(label);
    marker.setLabelPaint(color);
    marker.setLabelAnchor(RectangleAnchor.TOP_RIGHT);
    marker.setLabelTextAnchor(TextAnchor.TOP_LEFT);
    return marker;
  }
}

package io.dynoffheap.demo.runner;

import io.dynoffheap.demo.runner.Canvas.Anchor;
import io.dynoffheap.demo.runner.Canvas.Pen;
import java.util.List;
import java.util.Locale;
import java.util.function.ToLongFunction;

/**
 * The picture of one executor's timeline: committed heap, tracked native bytes and their sum
 * over time, against the limits of the run's configuration, with the plugin's GC episodes
 * (dotted verticals), spills (triangles at the top) and denied reservations (crosses) marked
 * where the CSV's running totals rise. Charts of one demo share a {@link Scale}, so the runs can
 * be compared by eye.
 */
final class TimelineChart {
  static final int WIDTH = 960;
  static final int HEIGHT = 480;
  private static final double LEFT = 80;
  private static final double RIGHT = 24;
  private static final double TOP = 56;
  private static final double BOTTOM = 104;

  static final String HEAP = "#1f77b4";
  static final String NATIVE = "#ff7f0e";
  static final String TOTAL = "#222222";
  static final String LIMIT = "#d62728";
  static final String GRANTED = "#7f7f7f";
  static final String GC = "#9467bd";
  static final String SPILL = "#8c564b";
  static final String SPARK_OFF_HEAP = "#2ca02c";
  static final String RSS = "#17becf";
  static final String DENIED = "#d62728";
  private static final String GRID = "#e6e6e6";
  private static final String AXIS_TEXT = "#555555";

  /** Axes shared by the charts of one demo. */
  record Scale(double maxSeconds, long maxBytes) {
    static Scale covering(List<RunResult> runs) {
      double seconds = 1;
      long bytes = RunSpec.DEMO_EXECUTOR_MEMORY_BYTES;
      for (RunResult run : runs) {
        bytes = Math.max(bytes, run.spec().grantedPerExecutor());
        for (Timeline timeline : run.timelines()) {
          if (!timeline.isEmpty()) {
            seconds = Math.max(seconds, (timeline.endMillis() - timeline.startMillis()) / 1000.0);
            bytes = Math.max(bytes, Math.max(timeline.budget(),
                Math.max(timeline.peakTotal(), timeline.peakRss())));
          }
        }
      }
      return new Scale(seconds, (long) (bytes * 1.12));
    }
  }

  private final String title;
  private final RunSpec spec;
  private final Timeline timeline;
  private final Scale scale;
  private final double plotWidth = WIDTH - LEFT - RIGHT;
  private final double plotHeight = HEIGHT - TOP - BOTTOM;

  TimelineChart(String title, RunSpec spec, Timeline timeline, Scale scale) {
    this.title = title;
    this.spec = spec;
    this.timeline = timeline;
    this.scale = scale;
  }

  /** The chart as an SVG element. */
  String svg() {
    SvgCanvas canvas = new SvgCanvas(WIDTH, HEIGHT);
    draw(canvas);
    return canvas.toSvg(title + ": committed heap, tracked native bytes, Spark's off-heap memory,"
        + " their sum and the resident set over time");
  }

  void draw(Canvas c) {
    c.rect(0, 0, WIDTH, HEIGHT, "#ffffff", null);
    c.text(LEFT, 22, title, 16, TOTAL, Anchor.START, true);
    c.text(LEFT, 40, subtitle(), 12, AXIS_TEXT, Anchor.START, false);
    drawGrid(c);
    drawLimits(c);
    drawEvents(c);
    // The sum first and widest: where native memory is zero it runs under the heap line.
    drawSeries(c, Timeline.Sample::total, new Pen(TOTAL, 3.5));
    if (timeline.peakRss() > 0) {
      drawSeries(c, Timeline.Sample::rssBytes, new Pen(RSS, 1.5, 3, 2));
    }
    drawSeries(c, Timeline.Sample::committedHeap, new Pen(HEAP, 2));
    drawSeries(c, Timeline.Sample::nativeBytes, new Pen(NATIVE, 2));
    if (timeline.peakSparkOffHeap() > 0) {
      drawSeries(c, Timeline.Sample::sparkOffHeap, new Pen(SPARK_OFF_HEAP, 2));
    }
    drawDenials(c);
    c.rect(LEFT, TOP, plotWidth, plotHeight, null, new Pen("#999999", 1));
    drawLegend(c);
  }

  private String subtitle() {
    if (timeline.isEmpty()) {
      return "no samples: the executor wrote no timeline";
    }
    return String.format(Locale.ROOT, "peaks: heap %s, native %s, Spark off-heap %s, all three %s,"
        + " RSS %s; %d samples over %.1f s", Sizes.format(timeline.peakCommittedHeap()),
        Sizes.format(timeline.peakNativeBytes()), Sizes.format(timeline.peakSparkOffHeap()),
        Sizes.format(timeline.peakTotal()),
        timeline.peakRss() < 0 ? "n/a" : Sizes.format(timeline.peakRss()),
        timeline.samples().size(), (timeline.endMillis() - timeline.startMillis()) / 1000.0);
  }

  private void drawGrid(Canvas c) {
    long step = niceStep(scale.maxBytes() / Sizes.MIB, 8, new long[] {16, 32, 64, 128, 256, 512,
        1024, 2048, 4096}) * Sizes.MIB;
    for (long bytes = 0; bytes <= scale.maxBytes(); bytes += step) {
      double y = y(bytes);
      c.line(LEFT, y, LEFT + plotWidth, y, new Pen(GRID, 1));
      c.text(LEFT - 8, y + 4, bytes == 0 ? "0" : bytes / Sizes.MIB + " MiB", 11, AXIS_TEXT,
          Anchor.END, false);
    }
    long secondsStep = niceStep((long) Math.ceil(scale.maxSeconds()), 10, new long[] {1, 2, 5, 10,
        15, 20, 30, 60, 120, 300, 600});
    for (long s = 0; s <= scale.maxSeconds(); s += secondsStep) {
      double x = x(s * 1000.0);
      c.line(x, TOP, x, TOP + plotHeight, new Pen(GRID, 1));
      c.text(x, TOP + plotHeight + 16, s + " s", 11, AXIS_TEXT, Anchor.MIDDLE, false);
    }
    c.text(LEFT + plotWidth / 2, TOP + plotHeight + 34, "time since the executor started", 12,
        AXIS_TEXT, Anchor.MIDDLE, false);
  }

  private void drawLimits(Canvas c) {
    long budget = timeline.isEmpty() ? spec.executorMemoryBytes() : timeline.budget();
    if (spec.isDynamic()) {
      limit(c, budget, new Pen(LIMIT, 1.5, 8, 4),
          "budget: spark.executor.memory = " + Sizes.format(budget) + " for heap + native");
    } else {
      limit(c, spec.grantedPerExecutor(), new Pen(GRANTED, 1.5, 8, 4),
          "granted per executor: heap + off-heap = " + Sizes.format(spec.grantedPerExecutor()));
      limit(c, budget, new Pen(LIMIT, 1.5, 8, 4),
          "heap limit: spark.executor.memory = " + Sizes.format(budget));
      limit(c, spec.offHeapBytes(), new Pen(NATIVE, 1.5, 8, 4),
          "native limit: spark.memory.offHeap.size = " + Sizes.format(spec.offHeapBytes()));
    }
  }

  private void limit(Canvas c, long bytes, Pen pen, String label) {
    double y = y(bytes);
    c.line(LEFT, y, LEFT + plotWidth, y, pen);
    c.text(LEFT + plotWidth - 6, y - 5, label, 11, pen.color(), Anchor.END, false);
  }

  private void drawSeries(Canvas c, ToLongFunction<Timeline.Sample> value, Pen pen) {
    List<Timeline.Sample> samples = timeline.samples();
    double[] xs = new double[samples.size()];
    double[] ys = new double[samples.size()];
    for (int i = 0; i < samples.size(); i++) {
      xs[i] = x(samples.get(i).epochMillis() - timeline.startMillis());
      ys[i] = y(value.applyAsLong(samples.get(i)));
    }
    c.polyline(xs, ys, pen);
  }

  /** GC episodes as dotted verticals with a diamond at the top; spills as triangles. */
  private void drawEvents(Canvas c) {
    List<Timeline.Sample> samples = timeline.samples();
    double lastLabel = Double.NEGATIVE_INFINITY;
    for (int i = 1; i < samples.size(); i++) {
      Timeline.Sample before = samples.get(i - 1);
      Timeline.Sample now = samples.get(i);
      double millis = now.epochMillis() - timeline.startMillis();
      double x = x(millis);
      if (now.gcEpisodes() > before.gcEpisodes()) {
        c.line(x, TOP, x, TOP + plotHeight, new Pen(GC, 1, 2, 3));
        c.polygon(new double[] {x - 5, x, x + 5, x}, new double[] {TOP, TOP - 5, TOP, TOP + 5}, GC,
            String.format(Locale.ROOT, "GC episode %d at %.1f s (plugin GC time so far: %d ms)",
                now.gcEpisodes(), millis / 1000, now.gcTimeMillis()));
        if (x - lastLabel > 24) {
          c.text(x, TOP - 8, "GC", 10, GC, Anchor.MIDDLE, true);
          lastLabel = x;
        }
      }
      if (now.spilledBytes() > before.spilledBytes()) {
        double top = TOP + 4;
        c.polygon(new double[] {x - 6, x + 6, x}, new double[] {top, top, top + 10}, SPILL,
            String.format(Locale.ROOT, "spill at %.1f s: %s freed (%s in all so far)",
                millis / 1000, Sizes.format(now.spilledBytes() - before.spilledBytes()),
                Sizes.format(now.spilledBytes())));
      }
    }
  }

  /** Denied reservations as crosses on the heap + native line. */
  private void drawDenials(Canvas c) {
    for (Timeline.Sample sample : timeline.rises(Timeline.Sample::denied)) {
      double x = x(sample.epochMillis() - timeline.startMillis());
      double y = y(sample.total());
      Pen pen = new Pen(DENIED, 2.5);
      c.line(x - 6, y - 6, x + 6, y + 6, pen);
      c.line(x - 6, y + 6, x + 6, y - 6, pen);
    }
  }

  /** Two rows under the axis: the lines, then the limits and the marks. */
  private void drawLegend(Canvas c) {
    double y = HEIGHT - 36;
    double x = LEFT;
    x = legendLine(c, x, y, new Pen(HEAP, 2), "committed heap");
    x = legendLine(c, x, y, new Pen(NATIVE, 2), "tracked native bytes");
    x = legendLine(c, x, y, new Pen(SPARK_OFF_HEAP, 2), "Spark off-heap");
    x = legendLine(c, x, y, new Pen(TOTAL, 3.5), "sum of the three");
    legendLine(c, x, y, new Pen(RSS, 1.5, 3, 2), "resident set (RSS)");
    y += 20;
    x = LEFT;
    x = legendLine(c, x, y, new Pen(LIMIT, 1.5, 8, 4), "limits (dashed, labelled)");
    x = legendLine(c, x, y, new Pen(GC, 1, 2, 3), "GC episode run by the plugin");
    c.polygon(new double[] {x, x + 12, x + 6}, new double[] {y - 9, y - 9, y + 1}, SPILL, "");
    c.text(x + 18, y, "spill", 12, TOTAL, Anchor.START, false);
    x += 18 + 40;
    Pen cross = new Pen(DENIED, 2.5);
    c.line(x, y - 9, x + 10, y + 1, cross);
    c.line(x, y + 1, x + 10, y - 9, cross);
    c.text(x + 16, y, "reservation denied", 12, TOTAL, Anchor.START, false);
  }

  private double legendLine(Canvas c, double x, double y, Pen pen, String label) {
    c.line(x, y - 4, x + 24, y - 4, pen);
    c.text(x + 30, y, label, 12, TOTAL, Anchor.START, false);
    return x + 30 + label.length() * 7 + 24;
  }

  private double x(double millis) {
    return LEFT + Math.min(1, millis / 1000.0 / scale.maxSeconds()) * plotWidth;
  }

  private double y(long bytes) {
    return TOP + plotHeight - Math.min(1.0, (double) bytes / scale.maxBytes()) * plotHeight;
  }

  /** The smallest of {@code steps} that divides {@code max} into at most {@code ticks} parts. */
  static long niceStep(long max, int ticks, long[] steps) {
    for (long step : steps) {
      if (max / step <= ticks) {
        return step;
      }
    }
    long step = steps[steps.length - 1];
    while (max / step > ticks) {
      step *= 2;
    }
    return step;
  }
}

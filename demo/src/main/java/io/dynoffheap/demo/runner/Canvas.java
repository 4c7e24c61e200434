package io.dynoffheap.demo.runner;

/**
 * The few drawing operations the timeline chart needs, so one drawing makes both the SVG (for
 * the HTML page) and the PNG. Coordinates are pixels from the top left; colors are "#rrggbb".
 */
interface Canvas {

  /** How a line looks: color, width and an optional dash pattern (empty: solid). */
  record Pen(String color, double width, double... dash) {}

  enum Anchor { START, MIDDLE, END }

  void rect(double x, double y, double width, double height, String fill, Pen border);

  void line(double x1, double y1, double x2, double y2, Pen pen);

  void polyline(double[] xs, double[] ys, Pen pen);

  /** A filled polygon; {@code tooltip} is shown on hover where the format supports it. */
  void polygon(double[] xs, double[] ys, String fill, String tooltip);

  void text(double x, double y, String text, double size, String color, Anchor anchor, boolean bold);
}

package io.dynoffheap.demo.runner;

import java.util.Locale;

/** Draws into an SVG document (self-contained: no scripts, no external styles or fonts). */
final class SvgCanvas implements Canvas {
  private final int width;
  private final int height;
  private final StringBuilder body = new StringBuilder();

  SvgCanvas(int width, int height) {
    this.width = width;
    this.height = height;
  }

  @Override
  public void rect(double x, double y, double w, double h, String fill, Pen border) {
    body.append("<rect x=\"").append(n(x)).append("\" y=\"").append(n(y)).append("\" width=\"")
        .append(n(w)).append("\" height=\"").append(n(h)).append("\" fill=\"")
        .append(fill == null ? "none" : fill).append('"').append(stroke(border)).append("/>\n");
  }

  @Override
  public void line(double x1, double y1, double x2, double y2, Pen pen) {
    body.append("<line x1=\"").append(n(x1)).append("\" y1=\"").append(n(y1)).append("\" x2=\"")
        .append(n(x2)).append("\" y2=\"").append(n(y2)).append('"').append(stroke(pen))
        .append("/>\n");
  }

  @Override
  public void polyline(double[] xs, double[] ys, Pen pen) {
    body.append("<polyline fill=\"none\" stroke-linejoin=\"round\" points=\"").append(points(xs, ys))
        .append('"').append(stroke(pen)).append("/>\n");
  }

  @Override
  public void polygon(double[] xs, double[] ys, String fill, String tooltip) {
    body.append("<polygon points=\"").append(points(xs, ys)).append("\" fill=\"").append(fill)
        .append('"');
    if (tooltip == null || tooltip.isEmpty()) {
      body.append("/>\n");
    } else {
      body.append("><title>").append(escape(tooltip)).append("</title></polygon>\n");
    }
  }

  @Override
  public void text(double x, double y, String text, double size, String color, Anchor anchor,
      boolean bold) {
    body.append("<text x=\"").append(n(x)).append("\" y=\"").append(n(y)).append("\" font-size=\"")
        .append(n(size)).append("\" fill=\"").append(color).append("\" text-anchor=\"")
        .append(anchor.name().toLowerCase(Locale.ROOT)).append('"')
        .append(bold ? " font-weight=\"bold\"" : "").append('>').append(escape(text))
        .append("</text>\n");
  }

  /** The finished SVG element, to embed in HTML or save as a .svg file. */
  String toSvg(String description) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + width + "\" height=\"" + height
        + "\" viewBox=\"0 0 " + width + " " + height + "\" role=\"img\" font-family=\"Helvetica, "
        + "Arial, sans-serif\">\n<desc>" + escape(description) + "</desc>\n" + body + "</svg>\n";
  }

  static String escape(String text) {
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\"", "&quot;");
  }

  private static String stroke(Pen pen) {
    if (pen == null) {
      return "";
    }
    StringBuilder attributes = new StringBuilder(" stroke=\"").append(pen.color())
        .append("\" stroke-width=\"").append(n(pen.width())).append('"');
    if (pen.dash().length > 0) {
      attributes.append(" stroke-dasharray=\"");
      for (int i = 0; i < pen.dash().length; i++) {
        attributes.append(i == 0 ? "" : " ").append(n(pen.dash()[i]));
      }
      attributes.append('"');
    }
    return attributes.toString();
  }

  private static String points(double[] xs, double[] ys) {
    StringBuilder points = new StringBuilder();
    for (int i = 0; i < xs.length; i++) {
      points.append(i == 0 ? "" : " ").append(n(xs[i])).append(',').append(n(ys[i]));
    }
    return points.toString();
  }

  private static String n(double value) {
    return String.format(Locale.ROOT, "%.1f", value);
  }
}

package io.dynoffheap.demo.runner;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * Draws into a PNG with the JDK's own Java2D (headless; nothing to download). A JDK without
 * fonts cannot draw text: {@link #tryWrite} then reports why and the HTML page remains.
 */
final class PngCanvas implements Canvas {
  private final BufferedImage image;
  private final Graphics2D g;

  PngCanvas(int width, int height) {
    System.setProperty("java.awt.headless", "true");
    image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, width, height);
  }

  @Override
  public void rect(double x, double y, double w, double h, String fill, Pen border) {
    Rectangle2D shape = new Rectangle2D.Double(x, y, w, h);
    if (fill != null) {
      g.setColor(color(fill));
      g.fill(shape);
    }
    if (border != null) {
      use(border);
      g.draw(shape);
    }
  }

  @Override
  public void line(double x1, double y1, double x2, double y2, Pen pen) {
    use(pen);
    Path2D path = new Path2D.Double();
    path.moveTo(x1, y1);
    path.lineTo(x2, y2);
    g.draw(path);
  }

  @Override
  public void polyline(double[] xs, double[] ys, Pen pen) {
    if (xs.length == 0) {
      return;
    }
    use(pen);
    g.draw(path(xs, ys, false));
  }

  @Override
  public void polygon(double[] xs, double[] ys, String fill, String tooltip) {
    g.setColor(color(fill));
    g.fill(path(xs, ys, true));
  }

  @Override
  public void text(double x, double y, String text, double size, String color, Anchor anchor,
      boolean bold) {
    g.setFont(new Font(Font.SANS_SERIF, bold ? Font.BOLD : Font.PLAIN, (int) Math.round(size)));
    g.setColor(color(color));
    double width = g.getFontMetrics().stringWidth(text);
    double left = switch (anchor) {
      case START -> x;
      case MIDDLE -> x - width / 2;
      case END -> x - width;
    };
    g.drawString(text, (float) left, (float) y);
  }

  /**
   * Draws with {@code drawing} and writes the PNG; returns null when written, else why not (a
   * headless JDK without fonts, for example).
   */
  static String tryWrite(int width, int height, java.util.function.Consumer<Canvas> drawing,
      Path file) {
    try {
      PngCanvas canvas = new PngCanvas(width, height);
      drawing.accept(canvas);
      canvas.g.dispose();
      if (!ImageIO.write(canvas.image, "png", file.toFile())) {
        return "no PNG writer in this JDK";
      }
      return null;
    } catch (IOException | RuntimeException | LinkageError e) {
      return e.toString();
    }
  }

  private void use(Pen pen) {
    g.setColor(color(pen.color()));
    float[] dash = null;
    if (pen.dash().length > 0) {
      dash = new float[pen.dash().length];
      for (int i = 0; i < dash.length; i++) {
        dash[i] = (float) pen.dash()[i];
      }
    }
    g.setStroke(new BasicStroke((float) pen.width(), BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND,
        10f, dash, 0f));
  }

  private static Path2D path(double[] xs, double[] ys, boolean closed) {
    Path2D path = new Path2D.Double();
    path.moveTo(xs[0], ys[0]);
    for (int i = 1; i < xs.length; i++) {
      path.lineTo(xs[i], ys[i]);
    }
    if (closed) {
      path.closePath();
    }
    return path;
  }

  private static Color color(String hex) {
    return new Color(Integer.parseInt(hex.substring(1), 16));
  }
}

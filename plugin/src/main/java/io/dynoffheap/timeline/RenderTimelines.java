package io.dynoffheap.timeline;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command that draws the memory timelines of any application that ran with the plugin and
 * Spark's event log on:
 *
 * <pre>
 * java -cp dynoffheap-plugin-&lt;version&gt;.jar:$SPARK_HOME/jars/* \
 *     io.dynoffheap.timeline.RenderTimelines &lt;event log file or directory&gt; &lt;out dir&gt;
 * </pre>
 *
 * <p>Reads every application in the event log ({@link EventLogReader}), writes one page per
 * application with one chart per executor ({@link TimelinePage}) and prints each page's path.
 * Exit status 0 when every application had timelines, 1 when one had none or the log could not be
 * read (the message says why and what to change), 2 for wrong arguments. Runs headless.
 */
public final class RenderTimelines {
  private RenderTimelines() {}

  public static void main(String[] args) {
    if (args.length != 2) {
      System.err.println("Usage: java -cp <plugin jar>:<spark jars dir>/* "
          + RenderTimelines.class.getName() + " <event log file or directory> <out dir>\n"
          + "  e.g. the file or eventlog_v2_<app id> directory under spark.eventLog.dir, or that "
          + "directory itself for every application in it.");
      System.exit(2);
    }
    try {
      for (Path page : render(Path.of(args[0]), Path.of(args[1]))) {
        System.out.println(page);
      }
    } catch (IOException | IllegalStateException e) {
      System.err.println(e.getMessage());
      System.exit(1);
    }
  }

  /**
   * Writes the pages of every application in {@code eventLog} into {@code outDir}; throws
   * {@link IllegalStateException} naming the applications without timelines, after writing the
   * others.
   */
  public static List<Path> render(Path eventLog, Path outDir) throws IOException {
    System.setProperty("java.awt.headless", "true");
    List<ApplicationTimelines> applications = new EventLogReader().read(eventLog);
    if (applications.isEmpty()) {
      throw new IllegalStateException("No event log found in " + eventLog + ": give an event log "
          + "file, a rolling event log directory (eventlog_v2_…) or the directory "
          + "spark.eventLog.dir names.");
    }
    List<Path> pages = new ArrayList<>();
    List<String> without = new ArrayList<>();
    for (ApplicationTimelines app : applications) {
      if (app.byExecutor().isEmpty()) {
        without.add(app.appId());
      } else {
        pages.add(TimelinePage.write(app, outDir));
      }
    }
    if (!without.isEmpty()) {
      throw new IllegalStateException("No memory timeline in the event log of " + without + ": run "
          + "the application with spark.plugins=io.dynoffheap.DynamicOffHeapSizingPlugin, "
          + "spark.eventLog.enabled=true and spark.dynoffheap.timeline.eventLog.interval above 0 "
          + "(default 1s)." + (pages.isEmpty() ? "" : " Written for the others: " + pages));
    }
    return pages;
  }
}

package io.dynoffheap.demo.job;

import org.apache.spark.SparkContext;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.SparkStatusTracker;

/**
 * Prints one progress line per running stage when its task counts change (at most every two
 * seconds), so a run of a few minutes shows that it moves. Lines start with "[demo]": the runner
 * shows those and keeps everything else in the driver's log.
 */
final class Progress implements AutoCloseable {
  private static final long INTERVAL_MILLIS = 2000;

  private final SparkStatusTracker tracker;
  private final String label;
  private final Thread thread;
  private volatile String step = "";
  private String lastLine = "";

  Progress(SparkContext context, String label) {
    this.tracker = context.statusTracker();
    this.label = label;
    this.thread = new Thread(this::run, "demo-progress");
    thread.setDaemon(true);
    thread.start();
  }

  /**
   * Starts a step: prints its description and reports its stages under its short name (the
   * description up to the first parenthesis) from now on.
   */
  void step(String description) {
    int cut = description.indexOf(" (");
    step = cut > 0 ? description.substring(0, cut) : description;
    say(description + " ...");
  }

  void say(String text) {
    System.out.println("[demo] " + label + ": " + text);
    System.out.flush();
  }

  private void run() {
    try {
      while (!Thread.currentThread().isInterrupted()) {
        Thread.sleep(INTERVAL_MILLIS);
        StringBuilder line = new StringBuilder();
        for (int stageId : tracker.getActiveStageIds()) {
          scala.Option<SparkStageInfo> info = tracker.getStageInfo(stageId);
          if (info.isEmpty()) {
            continue;
          }
          SparkStageInfo stage = info.get();
          line.append(line.length() == 0 ? "" : "; ").append("stage ").append(stageId)
              .append(": ").append(stage.numCompletedTasks()).append('/').append(stage.numTasks())
              .append(" tasks done, ").append(stage.numActiveTasks()).append(" running");
          if (stage.numFailedTasks() > 0) {
            line.append(", ").append(stage.numFailedTasks()).append(" failed");
          }
        }
        String text = line.toString();
        if (!text.isEmpty() && !text.equals(lastLine)) {
          lastLine = text;
          say("  " + step + ": " + text);
        }
      }
    } catch (InterruptedException e) {
      // closed
    }
  }

  @Override
  public void close() {
    thread.interrupt();
  }
}

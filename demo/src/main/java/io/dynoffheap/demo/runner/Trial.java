package io.dynoffheap.demo.runner;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One benchmark run of the job: its configuration, its size, what spark-submit and the job
 * reported, and the executor's peak resident memory.
 *
 * @param peakRssBytes the largest VmHWM of the run's executors, -1 when it could not be read
 */
record Trial(RunSpec spec, JobSize size, long workingSetBytes, RunResult result,
    long peakRssBytes) {
  private static final Pattern DENIED = Pattern.compile("Unable to acquire (\\d+) bytes");

  /** Whether the resident set went beyond the container: a cluster manager kills such executors. */
  boolean overContainer() {
    return peakRssBytes > spec.containerBytes();
  }

  /** The job finished and its executor stayed inside the container. */
  boolean completes() {
    return result.finished() && peakRssBytes >= 0 && !overContainer();
  }

  /** The job's own time, ms: from its first stage to its last (no cluster or executor start). */
  long jobMillis() {
    return result.number("jobMillis");
  }

  /**
   * Why the trial did not complete, in a few words, for a table: the amount a denied request asked
   * for, or how far the RSS went; "completed" when it did.
   */
  String shortOutcome() {
    if (!result.finished()) {
      Matcher denied = DENIED.matcher(result.failureReason());
      return denied.find() ? "task failed: SparkOutOfMemoryError, " + Sizes.format(
          Long.parseLong(denied.group(1))) + " request denied" : outcome();
    }
    if (peakRssBytes >= 0 && overContainer()) {
      return "finished, but RSS " + Sizes.mebibytes(peakRssBytes) + " > container: killed (exit 137)";
    }
    return outcome();
  }

  /** Why the trial did not complete, in a few words; "completed" when it did. */
  String outcome() {
    if (!result.finished()) {
      String reason = result.failureReason();
      return "failed: " + (reason.length() > 120 ? reason.substring(0, 120) + "..." : reason);
    }
    if (peakRssBytes < 0) {
      return "no RSS reading";
    }
    if (overContainer()) {
      return "RSS " + Sizes.format(peakRssBytes) + " over the container ("
          + Sizes.format(spec.containerBytes()) + "): a cluster manager would kill it (exit 137)";
    }
    return "completed";
  }
}

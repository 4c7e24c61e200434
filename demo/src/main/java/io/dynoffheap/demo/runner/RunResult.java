package io.dynoffheap.demo.runner;

import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one run produced: how spark-submit ended, the application's own result file (empty when
 * the driver did not get to write it) and the executors' memory timelines.
 *
 * @param exitCode   spark-submit's exit code; -1 when it was stopped (time-out, interrupt)
 * @param wallMillis from starting spark-submit to its end: JVM start, executor launch, job
 */
record RunResult(RunSpec spec, int exitCode, boolean timedOut, long wallMillis,
    Properties result, List<Timeline> timelines, Path driverLog, Path dir) {
  private static final Pattern TASK_FAILURE =
      Pattern.compile("most recent failure: Lost task [^(]*\\([^)]*\\) \\([^)]*\\): (.*)");

  /** Whether the job ran to its end and its results checked out. */
  boolean finished() {
    return exitCode == 0 && Boolean.parseBoolean(result.getProperty("finished", "false"));
  }

  long number(String key) {
    String value = result.getProperty(key);
    if (value == null) {
      return -1;
    }
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  String text(String key) {
    return result.getProperty(key, "");
  }

  /** Why the run did not finish, in one line; empty when it finished. */
  String failureReason() {
    if (finished()) {
      return "";
    }
    if (timedOut) {
      return "stopped after the time limit";
    }
    if (!text("error").isEmpty()) {
      return rootCause(text("error"));
    }
    if (!text("firstTaskFailure").isEmpty()) {
      return text("firstTaskFailure");
    }
    return exitCode < 0 ? "stopped" : "spark-submit exited with code " + exitCode;
  }

  /**
   * The part of Spark's job failure text that says what went wrong: the exception of the most
   * recent task failure, without the stage boilerplate and the package names.
   */
  static String rootCause(String sparkError) {
    Matcher matcher = TASK_FAILURE.matcher(sparkError);
    String cause = matcher.find() ? matcher.group(1) : sparkError;
    return cause.replaceAll("\\b(?:[a-z][a-z0-9_]*\\.)+([A-Z]\\w*(?:Error|Exception))", "$1");
  }

  /** A timeline statistic over all executors of the run: the largest value. */
  long maxOverExecutors(java.util.function.ToLongFunction<Timeline> statistic) {
    return timelines.stream().filter(t -> !t.isEmpty()).mapToLong(statistic).max().orElse(-1);
  }

  /** A timeline counter over all executors of the run: the sum. */
  long sumOverExecutors(java.util.function.ToLongFunction<Timeline> counter) {
    return timelines.stream().filter(t -> !t.isEmpty()).mapToLong(counter).sum();
  }
}

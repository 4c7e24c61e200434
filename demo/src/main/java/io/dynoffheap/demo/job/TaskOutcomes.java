package io.dynoffheap.demo.job;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.ExecutorLostFailure;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;

/**
 * What happened to the application's tasks, as the driver sees it: failures, out-of-memory
 * failures (Spark's SparkOutOfMemoryError or a JVM OutOfMemoryError), lost executors (a killed
 * container looks like that) and the bytes Spark's own operators spilled.
 */
final class TaskOutcomes extends SparkListener {
  private final AtomicLong started = new AtomicLong();
  private final AtomicLong ended = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong outOfMemory = new AtomicLong();
  private final AtomicLong executorsLost = new AtomicLong();
  private final AtomicLong memorySpilled = new AtomicLong();
  private final AtomicLong diskSpilled = new AtomicLong();
  private final AtomicReference<String> firstFailure = new AtomicReference<>("");

  @Override
  public void onTaskStart(SparkListenerTaskStart taskStart) {
    started.incrementAndGet();
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
    TaskMetrics metrics = taskEnd.taskMetrics();
    if (metrics != null) {
      memorySpilled.addAndGet(metrics.memoryBytesSpilled());
      diskSpilled.addAndGet(metrics.diskBytesSpilled());
    }
    if (taskEnd.reason() instanceof TaskFailedReason reason) {
      failed.incrementAndGet();
      String text = reason.toErrorString();
      if (reason instanceof ExceptionFailure failure && failure.className().contains("OutOfMemory")) {
        outOfMemory.incrementAndGet();
      }
      if (reason instanceof ExecutorLostFailure) {
        executorsLost.incrementAndGet();
      }
      firstFailure.compareAndSet("", text.lines().findFirst().orElse(text));
    }
    ended.incrementAndGet();
  }

  @Override
  public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
    if (!removed.reason().contains("stopped")) {
      executorsLost.incrementAndGet();
    }
  }

  /** Waits (at most {@code millis}) until every started task has been reported as ended. */
  void awaitQuiet(long millis) throws InterruptedException {
    long deadline = System.currentTimeMillis() + millis;
    while (ended.get() < started.get() && System.currentTimeMillis() < deadline) {
      Thread.sleep(20);
    }
  }

  long failed() {
    return failed.get();
  }

  long outOfMemory() {
    return outOfMemory.get();
  }

  long executorsLost() {
    return executorsLost.get();
  }

  long memorySpilled() {
    return memorySpilled.get();
  }

  long diskSpilled() {
    return diskSpilled.get();
  }

  String firstFailure() {
    return firstFailure.get();
  }
}

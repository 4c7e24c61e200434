package io.dynoffheap.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The harness of the stress tests: worker bodies on threads of their own, released at the same
 * moment, while an observer thread samples a figure (e.g. the quota's native bytes) as fast as it
 * can. The run returns the largest figure seen and fails with every worker's failure.
 */
public final class ConcurrentRun {
  /** What worker number {@code worker} does. */
  @FunctionalInterface
  public interface Worker {
    void run(int worker) throws Exception;
  }

  private ConcurrentRun() {}

  /** Runs {@code workers} workers to the end; returns the largest value {@code observed} gave. */
  public static long maxObserved(int workers, Worker body, LongSupplier observed)
      throws InterruptedException {
    CountDownLatch start = new CountDownLatch(1);
    AtomicBoolean done = new AtomicBoolean();
    AtomicLong worst = new AtomicLong(Long.MIN_VALUE);
    List<Throwable> failures = new ArrayList<>();
    Thread observer = new Thread(() -> {
      while (!done.get()) {
        worst.accumulateAndGet(observed.getAsLong(), Math::max);
      }
    });
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      int worker = w;
      threads.add(new Thread(() -> {
        try {
          start.await();
          body.run(worker);
        } catch (Throwable e) {
          synchronized (failures) {
            failures.add(e);
          }
        }
      }));
    }
    observer.start();
    threads.forEach(Thread::start);
    start.countDown();
    for (Thread thread : threads) {
      thread.join();
    }
    done.set(true);
    observer.join();
    if (!failures.isEmpty()) {
      AssertionError error = new AssertionError(failures.size() + " worker(s) failed",
          failures.get(0));
      failures.subList(1, failures.size()).forEach(error::addSuppressed);
      throw error;
    }
    return worst.get();
  }
}

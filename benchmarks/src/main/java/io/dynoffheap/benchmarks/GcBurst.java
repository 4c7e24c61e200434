package io.dynoffheap.benchmarks;

import io.dynoffheap.memory.Borrowing;
import io.dynoffheap.memory.ExecutorQuota;
import io.dynoffheap.memory.GcCoordinator;
import io.dynoffheap.memory.HeapShrink;
import io.dynoffheap.memory.IdleReclaim;
import io.dynoffheap.memory.ShortfallLadder;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongUnaryOperator;
import java.util.stream.Collectors;

/**
 * A burst of N threads all short of native memory at the same moment, each denied in the end:
 * how many garbage collections it costs and how long until the last thread has its answer, for
 * the plugin's ladder (shared, rate-limited GC episodes) and for the naive ladder in which every
 * thread collects for itself. Both run in this JVM, alternating, on the same live heap.
 *
 * <p>Not a JMH benchmark: one burst is one episode-level event (tens to thousands of ms), not a
 * hot loop. Nothing is asserted; the table shows the figures and their ratios.
 *
 * <p>Setup of one burst, identical for both ladders:
 * <ul>
 *   <li>a quota whose committed-heap supplier reports the whole budget as committed, so no
 *       request can ever be admitted and every thread walks its whole ladder and is denied;
 *   <li>each thread asks for {@link #REQUEST} bytes; there is nothing to spill;
 *   <li>3 retries after the first collection, back-off 20 ms doubling (20, 40, 80 ms): the
 *       plugin's defaults (spark.dynoffheap.gc.retries, spark.dynoffheap.gc.backoff);
 *   <li>threads are started first and released together by one latch.
 * </ul>
 * Ours: {@link ShortfallLadder#admit} over a fresh {@link GcCoordinator} whose collection is a
 * real {@link System#gc()} inside {@link HeapShrink} (enabled), minimum interval 1 s (the
 * default of spark.dynoffheap.gc.interval). Naive: each thread calls {@link System#gc()} itself
 * before each of its 1 + 3 attempts, sleeping the same back-off in between, as Gluten's dynamic
 * sizing does (Gluten additionally serialises the calls under one lock; without it HotSpot may
 * merge System.gc() requests that arrive while another full collection is running, so the naive
 * count here is if anything lower than Gluten's).
 *
 * <p>Collections are counted with {@link GarbageCollectorMXBean#getCollectionCount()}, summed over
 * all collectors, from just before the release of the threads until the last thread has
 * returned; the burst threads allocate almost nothing, so what the count sees is the bursts'
 * collections.
 *
 * <p>Usage: {@code java -Xmx1g -cp benchmarks.jar io.dynoffheap.benchmarks.GcBurst
 * [--threads 1,2,8,32] [--rounds 3] [--live-mib 128]}.
 */
public final class GcBurst {
  static final long MIB = 1L << 20;
  static final long REQUEST = 8 * MIB;
  static final int RETRIES = 3;
  static final long BACKOFF_MILLIS = 20;
  static final long INTERVAL_MILLIS = 1000;

  /** Live data that every full collection has to mark and move, like an executor's cached blocks. */
  private static Object[] liveSet;

  /** One burst's figures. */
  record Outcome(long episodes, long gcCalls, long collections, long lastAnswerNanos) {}

  private GcBurst() {}

  public static void main(String[] args) throws InterruptedException {
    List<Integer> threadCounts = List.of(1, 2, 8, 32);
    int rounds = 3;
    int liveMiB = 128;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--threads" -> threadCounts =
            Arrays.stream(args[++i].split(",")).map(Integer::valueOf).toList();
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--live-mib" -> liveMiB = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; known: --threads 1,2,8,32  --rounds 3  --live-mib 128");
      }
    }
    liveSet = liveSet(liveMiB);

    String setup = String.format(Locale.ROOT,
        "%s %s, %d cores, max heap %d MiB, collectors %s, live set %d MiB, request %d MiB per thread%n",
        System.getProperty("java.vm.name"), System.getProperty("java.version"),
        Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() / MIB,
        ManagementFactory.getGarbageCollectorMXBeans().stream().map(GarbageCollectorMXBean::getName)
            .collect(Collectors.joining(", ")), liveMiB, REQUEST / MIB);
    System.out.print(setup);

    // Warm-up, not reported: class loading, JIT of the ladders, first collections of the live set.
    coordinated(1);
    naive(1);

    List<Outcome[]> ours = new ArrayList<>();
    List<Outcome[]> theirs = new ArrayList<>();
    for (int threads : threadCounts) {
      Outcome[] o = new Outcome[rounds];
      Outcome[] n = new Outcome[rounds];
      for (int round = 0; round < rounds; round++) {
        o[round] = coordinated(threads);
        n[round] = naive(threads);
        System.out.printf(Locale.ROOT,
            "  N=%-3d round %d: ours %d episode(s), %d collection(s), %.0f ms | naive %d System.gc() "
                + "call(s), %d collection(s), %.0f ms%n",
            threads, round + 1, o[round].episodes(), o[round].collections(),
            millis(o[round].lastAnswerNanos()), n[round].gcCalls(), n[round].collections(),
            millis(n[round].lastAnswerNanos()));
      }
      ours.add(o);
      theirs.add(n);
    }
    System.out.println();
    System.out.println("=== GC burst benchmark: results ===");
    System.out.print(setup);
    System.out.print(table(threadCounts, ours, theirs, rounds));
    if (liveSet.length == 0) {
      System.out.println(); // keeps the live set reachable to the end
    }
  }

  /** N threads through the plugin's ladder, sharing one fresh GC coordinator. */
  static Outcome coordinated(int threads) throws InterruptedException {
    ExecutorQuota quota = heapFullQuota();
    GcCoordinator gc = new GcCoordinator(System::gc, HeapShrink.of(true),
        TimeUnit.MILLISECONDS.toNanos(INTERVAL_MILLIS), System::nanoTime);
    ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, RETRIES,
        BACKOFF_MILLIS);
    LongUnaryOperator nothingToSpill = wanted -> 0L;
    Burst burst = burst(threads, () -> ladder.admit(REQUEST, REQUEST, nothingToSpill).outcome());
    return new Outcome(gc.completedEpisodes(), gc.completedEpisodes(), burst.collections,
        burst.lastAnswerNanos);
  }

  /** N threads each running the naive ladder: its own System.gc() before every attempt. */
  static Outcome naive(int threads) throws InterruptedException {
    ExecutorQuota quota = heapFullQuota();
    AtomicLong calls = new AtomicLong();
    Burst burst = burst(threads, () -> {
      long sleepMillis = BACKOFF_MILLIS;
      for (int attempt = 0; attempt <= RETRIES; attempt++) {
        if (attempt > 0) {
          Thread.sleep(sleepMillis);
          sleepMillis *= 2;
        }
        System.gc();
        calls.incrementAndGet();
        if (quota.tryAdmit(REQUEST)) {
          return Borrowing.granted();
        }
      }
      return Borrowing.denied("naive ladder: no room after " + (RETRIES + 1) + " GCs", "");
    });
    return new Outcome(0, calls.get(), burst.collections, burst.lastAnswerNanos);
  }

  /** A quota that can admit nothing: its committed-heap supplier says the heap fills the budget. */
  private static ExecutorQuota heapFullQuota() {
    long budget = Runtime.getRuntime().maxMemory();
    return new ExecutorQuota(budget, () -> budget);
  }

  /** What one thread does in a burst; it must be denied. */
  @FunctionalInterface
  interface Ask {
    Borrowing ask() throws InterruptedException;
  }

  private record Burst(long collections, long lastAnswerNanos) {}

  private static Burst burst(int threads, Ask ask) throws InterruptedException {
    CountDownLatch ready = new CountDownLatch(threads);
    CountDownLatch go = new CountDownLatch(1);
    long[] answeredAt = new long[threads];
    Throwable[] failures = new Throwable[threads];
    List<Thread> workers = new ArrayList<>(threads);
    for (int i = 0; i < threads; i++) {
      int index = i;
      Thread worker = new Thread(() -> {
        try {
          ready.countDown();
          go.await();
          Borrowing answer = ask.ask();
          answeredAt[index] = System.nanoTime();
          if (answer.isGranted()) {
            throw new IllegalStateException("a request was granted by a quota with no room");
          }
        } catch (Throwable t) {
          failures[index] = t;
        }
      }, "burst-" + i);
      workers.add(worker);
      worker.start();
    }
    ready.await();
    long collectionsBefore = collections();
    long start = System.nanoTime();
    go.countDown();
    for (Thread worker : workers) {
      worker.join();
    }
    long collections = collections() - collectionsBefore;
    for (Throwable failure : failures) {
      if (failure != null) {
        throw new IllegalStateException("a burst thread failed", failure);
      }
    }
    long last = Arrays.stream(answeredAt).max().orElse(start) - start;
    return new Burst(collections, last);
  }

  private static long collections() {
    long sum = 0;
    for (GarbageCollectorMXBean bean : ManagementFactory.getGarbageCollectorMXBeans()) {
      sum += Math.max(0, bean.getCollectionCount());
    }
    return sum;
  }

  /** About {@code mib} MiB in 4 KiB arrays: 256 objects per MiB for the collector to trace. */
  private static Object[] liveSet(int mib) {
    Object[] blocks = new Object[mib * 256];
    for (int i = 0; i < blocks.length; i++) {
      blocks[i] = new byte[4096 - 16];
    }
    return blocks;
  }

  static String table(List<Integer> threadCounts, List<Outcome[]> ours, List<Outcome[]> theirs,
      int rounds) {
    StringBuilder out = new StringBuilder();
    out.append(String.format(Locale.ROOT,
        "GC burst: N threads short of quota at once, each denied after 1 + %d attempts "
            + "(back-off %d ms doubling); median of %d round(s), min..max in brackets.%n"
            + "ours = ShortfallLadder + GcCoordinator (HeapShrink on, %d ms interval); "
            + "naive = every thread calls System.gc() before each attempt.%n",
        RETRIES, BACKOFF_MILLIS, rounds, INTERVAL_MILLIS));
    out.append(String.format(Locale.ROOT, "%7s | %-39s | %-48s | %-23s%n", "",
        "ours", "naive", "naive / ours"));
    out.append(String.format(Locale.ROOT, "%7s | %8s %-13s %-16s | %7s %-14s %-25s | %-11s %-11s%n",
        "threads", "episodes", "collections", "last answer ms", "gc()", "collections",
        "last answer ms", "collections", "time"));
    for (int i = 0; i < threadCounts.size(); i++) {
      Outcome[] o = ours.get(i);
      Outcome[] n = theirs.get(i);
      long oCollections = median(o, Outcome::collections);
      long nCollections = median(n, Outcome::collections);
      long oTime = median(o, Outcome::lastAnswerNanos);
      long nTime = median(n, Outcome::lastAnswerNanos);
      out.append(String.format(Locale.ROOT, "%7d | %8s %-13s %-16s | %7s %-14s %-25s | %-11s %-11s%n",
          threadCounts.get(i),
          spread(o, Outcome::episodes, false),
          spread(o, Outcome::collections, false),
          spread(o, Outcome::lastAnswerNanos, true),
          spread(n, Outcome::gcCalls, false),
          spread(n, Outcome::collections, false),
          spread(n, Outcome::lastAnswerNanos, true),
          oCollections == 0 ? "n/a" : String.format(Locale.ROOT, "%.1fx", (double) nCollections / oCollections),
          String.format(Locale.ROOT, "%.2fx", (double) nTime / oTime)));
    }
    return out.toString();
  }

  private static long median(Outcome[] outcomes, java.util.function.ToLongFunction<Outcome> field) {
    long[] values = Arrays.stream(outcomes).mapToLong(field).sorted().toArray();
    return values[values.length / 2];
  }

  /** "median" when all rounds agree, else "median [min..max]"; nanoseconds shown as ms. */
  private static String spread(Outcome[] outcomes, java.util.function.ToLongFunction<Outcome> field,
      boolean nanos) {
    long[] values = Arrays.stream(outcomes).mapToLong(field).sorted().toArray();
    long median = values[values.length / 2];
    long min = values[0];
    long max = values[values.length - 1];
    if (!nanos) {
      return min == max ? Long.toString(median) : median + " [" + min + ".." + max + "]";
    }
    return String.format(Locale.ROOT, "%.0f [%.0f..%.0f]", millis(median), millis(min), millis(max));
  }

  private static double millis(long nanos) {
    return nanos / 1e6;
  }
}

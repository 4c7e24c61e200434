package io.dynoffheap.memory;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the heap from growing past what the native memory already admitted leaves it: admission
 * is exact when it runs, but afterwards the JVM grows the committed heap on its own (G1 expands
 * it after a young collection when collections take a large share of the time), and heap plus
 * native then goes over the budget, and a container can be killed for it, with no admission
 * anywhere to deny.
 *
 * <p>Algorithm. The heap grows at a collection's end or when one cannot free enough, so the
 * watch looks at the end of every collection (the JVM reports it through
 * {@link GarbageCollectorMXBean} notifications, on a JMX thread), and also every
 * {@link #TICK_MILLIS} ms on a daemon thread of its own, so that a look the minimum interval
 * held back is taken again as soon as the interval allows, not only at the next collection.
 * <ol>
 *   <li>Read committed heap + tracked native bytes, and record how far that is over the budget
 *       ({@link BudgetOvershoot}: the worst excess and the time above, the figures of the
 *       container overhead this executor needed).
 *   <li>Above {@link #THRESHOLD} of the budget, while native memory holds at least the rest of
 *       it (10 %), ask for one shared GC episode of the executor's
 *       {@link GcCoordinator} (the heap-free ratios lowered, so the heap gives back what it does
 *       not use), run on the watch's thread: the notification thread never waits, and at most
 *       one episode is asked for at a time.
 *   <li>The coordinator's minimum interval applies: a heap that is over the threshold because it
 *       is full of live data cannot cause a GC storm. Threads short of quota share the same
 *       episodes. So heap + native stays above the threshold for about one interval at most,
 *       unless what holds the heap is live.
 * </ol>
 * With {@code acting} false (spark.dynoffheap.gc.heapWatch.enabled=false) the watch only
 * measures.
 *
 * The episode's own collection is reported too; it asks for nothing unless the heap is still
 * over the threshold, and then the interval holds it back.
 *
 * <p>Below the threshold nothing happens, so a job whose memory is not tight pays for one
 * comparison per collection and per tick. Nor does it while native memory holds less than 10 % of the budget:
 * the heap alone never outgrows the budget (its maximum is the budget), so heap + native can then
 * exceed it by less than 10 % at most, and a JVM-only stage, whose heap grows towards its maximum
 * as it should, is never slowed down by collections it did not need. This is also what Gluten's dynamic sizing does with an
 * asynchronous collection at 85 % of the budget; here it is one shared, rate-limited episode.
 */
public final class HeapWatch implements AutoCloseable {
  /** Share of the budget above which a collection's end asks for an episode. */
  public static final double THRESHOLD = 0.9;
  /** How often the watch looks between collections. */
  public static final long TICK_MILLIS = 20;
  private static final Logger LOG = LoggerFactory.getLogger(HeapWatch.class);

  private final ExecutorQuota quota;
  private final GcCoordinator gc;
  private final boolean acting;
  private final LongSupplier nanoClock;
  private final BudgetOvershoot overshoot = new BudgetOvershoot();
  private final ScheduledExecutorService thread;
  private final AtomicBoolean pending = new AtomicBoolean();
  private final List<NotificationEmitter> emitters = new ArrayList<>();
  private final NotificationListener listener = this::onCollection;
  private volatile long requested;

  HeapWatch(ExecutorQuota quota, GcCoordinator gc, boolean acting, LongSupplier nanoClock) {
    this.quota = quota;
    this.gc = gc;
    this.acting = acting;
    this.nanoClock = nanoClock;
    this.thread = DaemonScheduler.named("dynoffheap-heap-watch");
  }

  /**
   * Starts watching this JVM's collections, and looking every {@link #TICK_MILLIS} ms, for
   * {@code quota}'s budget.
   *
   * @param acting whether to ask for GC episodes, or only to measure the overshoot
   */
  public static HeapWatch start(ExecutorQuota quota, GcCoordinator gc, boolean acting) {
    HeapWatch watch = new HeapWatch(quota, gc, acting, System::nanoTime);
    for (GarbageCollectorMXBean bean : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (bean instanceof NotificationEmitter emitter) {
        emitter.addNotificationListener(watch.listener, null, null);
        watch.emitters.add(emitter);
      }
    }
    watch.thread.scheduleWithFixedDelay(watch::look, TICK_MILLIS, TICK_MILLIS,
        TimeUnit.MILLISECONDS);
    return watch;
  }

  /** How far heap + native went over the budget while watched. */
  public BudgetOvershoot overshoot() {
    return overshoot;
  }

  /** Episodes this watch asked for (some may have been held back by the interval). */
  public long requestedEpisodes() {
    return requested;
  }

  /**
   * One look: records the overshoot and asks for an episode when heap + native is above the
   * threshold, native memory holds 10 % of the budget, the watch acts and none is pending.
   * Returns whether it asked.
   */
  boolean check() {
    long nativeBytes = quota.nativeBytes();
    long held = quota.committedHeap() + nativeBytes;
    overshoot.sample(held - quota.budget(), nanoClock.getAsLong());
    if (!acting || held <= THRESHOLD * quota.budget()
        || nativeBytes < (1 - THRESHOLD) * quota.budget()
        || !pending.compareAndSet(false, true)) {
      return false;
    }
    requested++;
    long seen = gc.completedEpisodes();
    try {
      thread.execute(() -> {
        try {
          gc.collectAfter(seen);
        } finally {
          pending.set(false);
        }
      });
    } catch (RuntimeException e) {
      pending.set(false); // closed meanwhile
    }
    return true;
  }

  private void onCollection(Notification notification, Object handback) {
    look();
  }

  private void look() {
    try {
      check();
    } catch (RuntimeException e) {
      LOG.warn("The heap watch failed to look at the heap; it goes on with the next look", e);
    }
  }

  @Override
  public void close() {
    for (NotificationEmitter emitter : emitters) {
      try {
        emitter.removeNotificationListener(listener);
      } catch (ListenerNotFoundException e) {
        // already gone
      }
    }
    thread.shutdownNow();
  }
}

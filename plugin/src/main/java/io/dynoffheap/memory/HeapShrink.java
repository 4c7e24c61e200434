package io.dynoffheap.memory;

import com.sun.management.HotSpotDiagnosticMXBean;
import com.sun.management.VMOption;
import java.lang.management.ManagementFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a garbage collection during which the JVM may give committed heap back to the OS.
 *
 * <p>HotSpot shrinks the heap after a full collection only down to what MinHeapFreeRatio and
 * MaxHeapFreeRatio allow (by default up to 70% of the heap may stay committed and free). For the
 * duration of the collection both ratios are lowered to {@link #EPISODE_MIN_FREE} and
 * {@link #EPISODE_MAX_FREE} (never raised), then <em>both</em> are restored to the values they
 * had, also when the collection throws. The JVM requires min &lt;= max at every step, so they
 * are lowered min first and restored max first.
 *
 * <p>The flags belong to the whole JVM, so changing them is serialised by one JVM-wide lock.
 * If the JVM does not let them be written, the collection runs without shrinking and a warning
 * says so once.
 */
public final class HeapShrink {
  static final String MIN_FREE = "MinHeapFreeRatio";
  static final String MAX_FREE = "MaxHeapFreeRatio";
  static final int EPISODE_MIN_FREE = 5;
  static final int EPISODE_MAX_FREE = 10;

  private static final Logger LOG = LoggerFactory.getLogger(HeapShrink.class);
  /** The two flags are JVM-global state: one lock for every instance in this JVM. */
  private static final Object JVM_FLAGS_LOCK = new Object();

  private final HotSpotDiagnosticMXBean hotspot;
  private final boolean enabled;
  private volatile boolean warnedNotWritable;

  private HeapShrink(HotSpotDiagnosticMXBean hotspot, boolean enabled) {
    this.hotspot = hotspot;
    this.enabled = enabled;
  }

  /** Shrinks through HotSpot's diagnostic bean when {@code enabled} and the JVM allows it. */
  public static HeapShrink of(boolean enabled) {
    HotSpotDiagnosticMXBean bean = null;
    try {
      bean = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    } catch (RuntimeException notHotSpot) {
      LOG.warn("No HotSpot diagnostic bean in this JVM: GC episodes will not shrink the heap", notHotSpot);
    }
    return new HeapShrink(bean, enabled && bean != null);
  }

  /** Runs {@code collection} with lowered heap-free ratios and restores them afterwards. */
  public void collect(Runnable collection) {
    if (!enabled || !writable()) {
      collection.run();
      return;
    }
    synchronized (JVM_FLAGS_LOCK) {
      int min = flag(MIN_FREE);
      int max = flag(MAX_FREE);
      int episodeMin = Math.min(min, EPISODE_MIN_FREE);
      int episodeMax = Math.max(episodeMin, Math.min(max, EPISODE_MAX_FREE));
      try {
        hotspot.setVMOption(MIN_FREE, Integer.toString(episodeMin));
        hotspot.setVMOption(MAX_FREE, Integer.toString(episodeMax));
        collection.run();
      } finally {
        hotspot.setVMOption(MAX_FREE, Integer.toString(max));
        hotspot.setVMOption(MIN_FREE, Integer.toString(min));
      }
    }
  }

  /** The current value of MinHeapFreeRatio or MaxHeapFreeRatio, for tests and diagnostics. */
  int flag(String name) {
    return Integer.parseInt(hotspot.getVMOption(name).getValue());
  }

  private boolean writable() {
    VMOption min = hotspot.getVMOption(MIN_FREE);
    VMOption max = hotspot.getVMOption(MAX_FREE);
    boolean writable = min.isWriteable() && max.isWriteable();
    if (!writable && !warnedNotWritable) {
      warnedNotWritable = true;
      LOG.warn("{} and {} are not writable in this JVM: GC episodes will not shrink the heap",
          MIN_FREE, MAX_FREE);
    }
    return writable;
  }
}

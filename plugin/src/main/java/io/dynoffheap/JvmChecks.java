package io.dynoffheap;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks the executor JVM's flags for what defeats dynamic off-heap sizing, and says which flag
 * and what follows. Validated setup: HotSpot with G1, explicit GC enabled, heap allowed to shrink.
 */
final class JvmChecks {
  static final List<String> FLAGS = List.of("DisableExplicitGC", "ExplicitGCInvokesConcurrent",
      "UseG1GC", "UseParallelGC", "UseSerialGC", "UseZGC", "UseShenandoahGC", "InitialHeapSize",
      "MaxHeapSize");

  private JvmChecks() {}

  /** The warnings for this JVM. */
  static List<String> warningsForThisJvm() {
    Map<String, String> flags = new HashMap<>();
    try {
      HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
      for (String flag : FLAGS) {
        try {
          flags.put(flag, hotspot.getVMOption(flag).getValue());
        } catch (IllegalArgumentException absentInThisJvm) {
          // e.g. UseShenandoahGC in a JVM built without it: not in use
        }
      }
    } catch (RuntimeException notHotSpot) {
      return List.of("This JVM has no HotSpot diagnostic bean: dynamic off-heap sizing is "
          + "validated on HotSpot with G1 only; GC episodes may not give heap back to native memory");
    }
    return warnings(flags);
  }

  /** The warnings for a JVM with these flag values (flag name → value as HotSpot prints it). */
  static List<String> warnings(Map<String, String> flags) {
    List<String> warnings = new ArrayList<>();
    if (isOn(flags, "DisableExplicitGC")) {
      warnings.add("-XX:+DisableExplicitGC is set: the plugin's GC episodes do nothing, so heap "
          + "the JVM has committed is never given back to native memory and native requests fail "
          + "sooner. Remove it from spark.executor.extraJavaOptions.");
    }
    if (isOn(flags, "ExplicitGCInvokesConcurrent")) {
      warnings.add("-XX:+ExplicitGCInvokesConcurrent is set: a GC episode only starts a concurrent "
          + "cycle, which does not shrink the heap, so native requests may still fail after it. "
          + "Remove it from spark.executor.extraJavaOptions.");
    }
    String initial = flags.get("InitialHeapSize");
    if (initial != null && initial.equals(flags.get("MaxHeapSize"))) {
      warnings.add("-Xms equals -Xmx (" + initial + " bytes): the heap can never shrink, so native "
          + "memory gets only what the heap has not yet committed. Do not set -Xms for executors.");
    }
    if (!flags.isEmpty() && !isOn(flags, "UseG1GC")) {
      warnings.add("The executor uses " + collector(flags) + ", not G1: dynamic off-heap sizing is "
          + "validated with G1 only (a full GC then shrinks the heap to MaxHeapFreeRatio). "
          + "Use -XX:+UseG1GC.");
    }
    return warnings;
  }

  private static String collector(Map<String, String> flags) {
    for (String flag : List.of("UseParallelGC", "UseSerialGC", "UseZGC", "UseShenandoahGC")) {
      if (isOn(flags, flag)) {
        return "-XX:+" + flag;
      }
    }
    return "another collector";
  }

  private static boolean isOn(Map<String, String> flags, String flag) {
    return "true".equals(flags.get(flag));
  }
}

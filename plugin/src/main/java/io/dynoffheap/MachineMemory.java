package io.dynoffheap;

import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;

/**
 * The physical memory of the machine this JVM runs on, as the JDK reports it: in a container
 * with a memory limit, that limit (the JDK is container-aware), else the host's RAM.
 */
final class MachineMemory {
  private MachineMemory() {}

  /** Total physical memory in bytes, or 0 when this JVM cannot tell. */
  static long totalBytes() {
    OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean hotspot) {
      return Math.max(0, hotspot.getTotalMemorySize());
    }
    return 0;
  }
}

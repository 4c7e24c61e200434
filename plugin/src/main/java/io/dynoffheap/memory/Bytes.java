package io.dynoffheap.memory;

import java.util.Locale;

/** Formats byte counts for people: exact bytes plus a binary unit, e.g. "8388608 (8.0 MiB)". */
public final class Bytes {
  private static final String[] UNITS = {"KiB", "MiB", "GiB", "TiB"};

  private Bytes() {}

  public static String format(long bytes) {
    if (Math.abs(bytes) < 1024) {
      return bytes + " B";
    }
    double value = bytes;
    int unit = -1;
    while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%d (%.1f %s)", bytes, value, UNITS[unit]);
  }
}

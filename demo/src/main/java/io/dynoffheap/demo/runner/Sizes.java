package io.dynoffheap.demo.runner;

import java.util.Locale;

/** Byte counts for people: binary units, one decimal. */
final class Sizes {
  static final long MIB = 1L << 20;

  private Sizes() {}

  static String format(long bytes) {
    if (bytes < 0) {
      return "n/a";
    }
    if (bytes < 1024) {
      return bytes + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB"};
    double value = bytes;
    int unit = -1;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
  }

  /** Whole mebibytes, for sizes that are searched in MiB steps. */
  static String mebibytes(long bytes) {
    return bytes < 0 ? "n/a" : (bytes >> 20) + " MiB";
  }

  static String seconds(long millis) {
    return millis < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f s", millis / 1000.0);
  }
}

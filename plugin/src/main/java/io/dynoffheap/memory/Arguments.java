package io.dynoffheap.memory;

/**
 * Checks of the sizes callers hand to the plugin's memory API (tree nodes, native pools, Arrow
 * allocators), so that a wrong size fails at once with an {@link IllegalArgumentException} that
 * names the call, the argument, its value and the allowed range, instead of surfacing later as an
 * out-of-memory error ("raise spark.executor.memory") or an arithmetic overflow.
 *
 * <p>The ceiling, {@link #MAX_BYTES} = 16 TiB, is the largest budget an executor can have (the
 * upper limit of spark.dynoffheap.budget). No configuration could grant more, so a larger size is
 * a bug of the caller (a negative number cast to unsigned, a wrong unit), not a shortage of
 * memory. It also keeps the arithmetic safe: sums of a few such sizes, and a size rounded up to
 * whole blocks (at most 16 TiB each), stay far below {@code Long.MAX_VALUE}.
 *
 * <p>The checks cost two comparisons; the message is built only when one fails.
 */
public final class Arguments {
  /** The largest size of one request, and of a node's capacity: 16 TiB, the largest budget. */
  public static final long MAX_BYTES = 1L << 44;

  private Arguments() {}

  /**
   * Returns {@code bytes} if it is in [1, {@link #MAX_BYTES}], else throws.
   *
   * @param call the public method that received it, e.g. "reserve(bytes)"
   * @param argument the argument's name, e.g. "bytes"
   * @param target what the call was made on, for the message (e.g. the node)
   */
  public static long size(long bytes, String call, String argument, Object target) {
    if (bytes <= 0 || bytes > MAX_BYTES) {
      throw outOfRange(bytes, call, argument, target, "");
    }
    return bytes;
  }

  /**
   * Returns {@code capacity} if it is in [1, {@link #MAX_BYTES}] or is {@code unlimited} (the
   * marker for "no capacity of its own"), else throws.
   */
  public static long capacity(long capacity, long unlimited, String call, String argument,
      Object target) {
    if (capacity != unlimited && (capacity <= 0 || capacity > MAX_BYTES)) {
      throw outOfRange(capacity, call, argument, target, ", or " + unlimited + " for no limit");
    }
    return capacity;
  }

  private static IllegalArgumentException outOfRange(long value, String call, String argument,
      Object target, String alternative) {
    String why = value > MAX_BYTES
        ? "; " + Bytes.format(MAX_BYTES) + " is the largest budget any executor can have "
            + "(spark.dynoffheap.budget), so this is a wrong size, not a shortage of memory"
        : "";
    return new IllegalArgumentException(call + " on " + target + ": " + argument + " = "
        + Bytes.format(value) + " is outside the allowed range [1 B, " + Bytes.format(MAX_BYTES)
        + "]" + alternative + why);
  }
}

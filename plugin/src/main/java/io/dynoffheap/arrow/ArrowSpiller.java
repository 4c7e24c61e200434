package io.dynoffheap.arrow;

/**
 * Frees Arrow memory of one task allocator when asked: closes vectors or buffers that can be
 * rebuilt or written out. Called when Spark spills the task, when the shortfall ladder needs room
 * for a reservation, and when an Arrow limit of the allocator refuses a buffer. The freed bytes
 * reach the plugin by themselves (the allocator's listener gives their blocks back), so the
 * spiller returns nothing.
 *
 * <p>It may run on any thread of the task, also inside an allocation of the same allocator and
 * while Spark holds the task's memory manager lock: it must not wait for other threads.
 */
@FunctionalInterface
public interface ArrowSpiller {

  /** A spiller that frees nothing. */
  ArrowSpiller NONE = bytes -> { };

  /** @param bytes about how many bytes are wanted (a hint: freeing more or less is allowed) */
  void spill(long bytes);
}

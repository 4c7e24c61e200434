package io.dynoffheap.memory;

/**
 * Where a task's {@link TaskReservation} takes its blocks from and gives them back: Spark's
 * TaskMemoryManager alone (static split), or the executor quota and then Spark (dynamic sizing).
 *
 * <p>Contract: {@link #take} grants at least {@code min} bytes and at most {@code max}, preferring
 * {@code max} when it fits, or denies and then holds nothing more than before. {@link #give}
 * returns bytes taken earlier, never more than are held.
 */
interface BlockSource {

  /** Takes between {@code min} and {@code max} bytes (0 &lt; min &lt;= max). */
  Grant take(long min, long max);

  /** Gives back {@code bytes} taken earlier. */
  void give(long bytes);
}

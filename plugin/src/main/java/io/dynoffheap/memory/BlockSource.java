package io.dynoffheap.memory;

/**
 * Where a task's {@link TaskReservation} takes its blocks from and gives them back: Spark's
 * TaskMemoryManager alone (static split), or the executor quota and then Spark (dynamic sizing).
 *
 * <p>Contract: {@link #take} grants at least {@code min} bytes and at most {@code max}, preferring
 * {@code max} when it fits, or denies and then holds nothing more than before. {@link #give}
 * returns bytes taken earlier, never more than are held; {@link #giveFromAnyThread} does the same
 * from a thread that does not work for the task.
 */
interface BlockSource {

  /** Takes between {@code min} and {@code max} bytes (0 &lt; min &lt;= max). */
  Grant take(long min, long max);

  /** Gives back {@code bytes} taken earlier. */
  void give(long bytes);

  /**
   * Gives back {@code bytes} taken earlier, from any thread and without taking a lock: what can
   * only be given back under the task's lock (its registration with Spark) is owed, and settled
   * by the task's own next {@link #take} or {@link #give}, at the latest when the task closes.
   */
  void giveFromAnyThread(long bytes);
}

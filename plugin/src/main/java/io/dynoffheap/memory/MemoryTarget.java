package io.dynoffheap.memory;

/**
 * Something memory is borrowed from: a node of a task's tree. Targets compose: a node borrows from
 * its parent, up to the root, whose account is the task's reservation, which takes blocks from
 * Spark and the executor's quota ({@link BlockSource}); see {@link NodeAccount}.
 *
 * <p>Contract: {@link #borrow} is all or nothing. Sizes must be in [1 B,
 * {@link Arguments#MAX_BYTES}]; a target throws {@link IllegalArgumentException} for anything
 * else. {@link #repay} gives back bytes that were borrowed from this same target and never more
 * than it holds.
 */
public interface MemoryTarget {

  /** A name for reports: the node name, "spark", "quota". */
  String name();

  /** Asks for {@code bytes} more; on denial nothing stays borrowed anywhere along the chain. */
  Borrowing borrow(long bytes);

  /** Gives back {@code bytes} borrowed earlier. */
  void repay(long bytes);

  /** Bytes currently borrowed through this target. */
  long usedBytes();

  /** The highest {@link #usedBytes()} ever seen. */
  long peakBytes();
}

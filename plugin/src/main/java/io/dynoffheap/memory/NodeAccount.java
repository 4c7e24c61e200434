package io.dynoffheap.memory;

/**
 * How a {@link TreeNode} counts the bytes it holds and gets them from above: a child node keeps
 * its own count against its capacity and borrows from its parent node ({@link ChildAccount});
 * the root's count is kept by the task's {@link TaskReservation}, which lends it bytes from
 * blocks taken in advance, so a root borrow and repay cost one atomic update each.
 *
 * <p>Contract: {@link #borrow} is all or nothing, like {@link MemoryTarget#borrow}; sizes are
 * positive (the node checks them). {@link #repay} throws, changing nothing, when asked for more
 * than is held.
 */
interface NodeAccount {

  /** Adds {@code bytes} to the count if they can be had from above; nothing changes on denial. */
  Borrowing borrow(long bytes);

  /** Takes {@code bytes} off the count and gives them back above. */
  void repay(long bytes);

  /** Takes everything off the count and gives it back above; returns what was held. */
  long releaseAll();

  /** Bytes held now. */
  long usedBytes();

  /** The highest {@link #usedBytes()} after a granted borrow. */
  long peakBytes();

  /** Bytes set aside for this node: what it holds, plus unused reservation at the root. */
  long reservedBytes();
}

package io.dynoffheap.memory;

/**
 * The outcome of asking for a range of bytes (at least a minimum, more if it fits): how many
 * bytes were granted, or the denial, which granted nothing. Used where memory is taken in blocks
 * (a task's reservation, the quota's shortfall ladder); a node's all-or-nothing borrow answers
 * with a {@link Borrowing}.
 *
 * @param bytes bytes granted; 0 when denied
 * @param outcome {@link Borrowing#granted()}, or the denial with its reason and setting
 */
public record Grant(long bytes, Borrowing outcome) {

  static Grant of(long bytes) {
    return new Grant(bytes, Borrowing.granted());
  }

  static Grant denied(Borrowing denial) {
    return new Grant(0, denial);
  }

  public boolean isGranted() {
    return outcome.isGranted();
  }
}

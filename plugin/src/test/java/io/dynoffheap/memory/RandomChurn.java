package io.dynoffheap.memory;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The body of the stress tests' workers: random borrows and repays on one node, the last bytes
 * borrowed repaid first, and everything still held repaid at the end.
 */
final class RandomChurn {
  private RandomChurn() {}

  /**
   * Runs {@code operations} steps on {@code node}: with {@code repayChance} (and something held)
   * a repay, otherwise a borrow of 1 to {@code maxBytes} bytes that may be denied.
   */
  static Borrows run(TreeNode node, long seed, int operations, long maxBytes, double repayChance) {
    SplittableRandom random = new SplittableRandom(seed);
    List<Long> held = new ArrayList<>();
    long granted = 0;
    long denied = 0;
    for (int i = 0; i < operations; i++) {
      if (!held.isEmpty() && random.nextDouble() < repayChance) {
        node.repay(held.remove(held.size() - 1));
      } else {
        long bytes = 1 + random.nextLong(maxBytes);
        if (node.borrow(bytes).isGranted()) {
          held.add(bytes);
          granted++;
        } else {
          denied++;
        }
      }
    }
    held.forEach(node::repay);
    return new Borrows(granted, denied);
  }

  /** How many borrows were granted and denied. */
  record Borrows(long granted, long denied) {}
}

package io.dynoffheap.memory;

/**
 * The account of a node below the root: its own count, admitted against the node's capacity in
 * one atomic step, then the same bytes borrowed from the parent node. If the parent denies or
 * throws, the admission is taken back, so a denial leaves nothing counted here, and the peak is
 * raised only once the parent granted.
 */
final class ChildAccount implements NodeAccount {
  private final MemoryCounter counter = new MemoryCounter();
  private final String path;
  private final String name;
  private final long capacity;
  private final TreeNode parent;

  ChildAccount(String path, String name, long capacity, TreeNode parent) {
    this.path = path;
    this.name = name;
    this.capacity = capacity;
    this.parent = parent;
  }

  @Override
  public Borrowing borrow(long bytes) {
    long total = counter.tryAdd(bytes, capacity);
    if (total < 0) {
      return Borrowing.denied(
          "memory node '" + path + "' is capped at " + Bytes.format(capacity) + " and holds "
              + Bytes.format(counter.used()) + ", so " + Bytes.format(bytes) + " more do not fit",
          "the capacity given to node '" + name + "' by the code that created it");
    }
    Borrowing fromParent;
    try {
      fromParent = parent.borrowForChild(bytes);
    } catch (RuntimeException | Error e) {
      counter.remove(bytes, path);
      throw e;
    }
    if (fromParent.isGranted()) {
      counter.notePeak(total);
    } else {
      counter.remove(bytes, path);
    }
    return fromParent;
  }

  @Override
  public void repay(long bytes) {
    counter.remove(bytes, path);
    parent.repayForChild(bytes);
  }

  @Override
  public long releaseAll() {
    long held = counter.removeAll();
    if (held > 0) {
      parent.repayForChild(held);
    }
    return held;
  }

  @Override
  public long usedBytes() {
    return counter.used();
  }

  @Override
  public long peakBytes() {
    return counter.peak();
  }

  @Override
  public long reservedBytes() {
    return counter.used();
  }
}

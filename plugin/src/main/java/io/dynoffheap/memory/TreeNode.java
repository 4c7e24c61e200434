package io.dynoffheap.memory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A named node of a task's memory tree.
 *
 * <p>Borrowing: a node below the root first admits the bytes against its own optional capacity
 * (one atomic step), then borrows the same bytes from its parent node, which does the same, up to
 * the root. If anything above denies or throws, the node takes its own admission back, so a
 * denial leaves nothing reserved anywhere. A node's used bytes therefore include everything its
 * children borrowed. The root's count is kept by the task's {@link TaskReservation}, which lends
 * from memory held in blocks, so a borrow usually ends there with one more atomic step (see
 * {@link NodeAccount}).
 *
 * <p>Spilling: {@link #spill} asks the children, largest used first, until enough is freed, and
 * then the node's own spiller. The tree root runs it once per {@link SpillPhase}.
 *
 * <p>Closing (at task end): children close first and give back what they still hold; whatever a
 * node still holds after that was borrowed directly at this node. Every such residue is reported
 * as a {@link MemoryLeak} and force-released to the parent. Borrowing from a closed node throws;
 * repaying to it is ignored, because its bytes were already force-released (a native pool may
 * free late, after its task ended).
 *
 * <p>Debug mode ({@link #recordReservationSites()}, spark.dynoffheap.debug): each node records
 * the Java stack of every borrow made at it, and its leak shows the stacks of the bytes it still
 * held ({@link ReservationSites}). A child's account borrows from the parent through
 * {@link #borrowForChild}, which records nothing, so each byte is recorded once, where it was
 * asked for.
 *
 * <p>Thread safety: borrow, repay and spill may run on any thread at once (a task thread and the
 * native threads working for it).
 */
public final class TreeNode implements MemoryTarget {
  /** Capacity of a node that has no limit of its own. */
  public static final long UNLIMITED = Long.MAX_VALUE;

  private static final Comparator<TreeNode> LARGEST_FIRST =
      Comparator.comparingLong(TreeNode::usedBytes).reversed();

  private final String name;
  private final String path;
  private final TreeNode root;
  private final long capacity;
  private final Spiller spiller;
  private final NodeAccount account;
  private final List<TreeNode> children = new CopyOnWriteArrayList<>();
  private volatile boolean closed;
  /** Where live reservations were made, in debug mode; else null. */
  private volatile ReservationSites sites;

  /** The root of a task's tree, counted by the task's reservation. */
  TreeNode(String name, TaskReservation reservation) {
    checkName(name);
    this.name = name;
    this.path = name;
    this.root = this;
    this.capacity = UNLIMITED;
    this.spiller = Spiller.NONE;
    this.account = reservation;
  }

  private TreeNode(String name, TreeNode parent, long capacity, Spiller spiller) {
    checkName(name);
    this.name = name;
    this.path = parent.path + "/" + name;
    this.root = parent.root;
    this.capacity = capacity;
    this.spiller = spiller == null ? Spiller.NONE : spiller;
    this.account = new ChildAccount(path, name, capacity, parent);
    this.sites = parent.sites == null ? null : new ReservationSites();
  }

  private static void checkName(String name) {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("a memory node needs a non-empty name");
    }
  }

  /** Adds a child with no capacity of its own and no spiller. */
  public TreeNode newChild(String childName) {
    return newChild(childName, UNLIMITED, Spiller.NONE);
  }

  /**
   * Adds a child that may hold at most {@code childCapacity} bytes (in [1 B, 16 TiB], or
   * {@link #UNLIMITED}) and frees through {@code childSpiller}.
   */
  public TreeNode newChild(String childName, long childCapacity, Spiller childSpiller) {
    Arguments.capacity(childCapacity, UNLIMITED, "newChild(\"" + childName + "\", childCapacity)",
        "childCapacity", this);
    if (closed) {
      throw closedError("adding child '" + childName + "'");
    }
    TreeNode child = new TreeNode(childName, this, childCapacity, childSpiller);
    children.add(child);
    return child;
  }

  @Override
  public String name() {
    return name;
  }

  /** Names from the root down to this node, separated by '/'. */
  public String path() {
    return path;
  }

  public long capacity() {
    return capacity;
  }

  public boolean isClosed() {
    return closed;
  }

  /**
   * Debug mode: from now on this node, and every child made after this call, records where each
   * live reservation was made, and leak reports print it. Call it before the node is used.
   */
  public void recordReservationSites() {
    if (sites == null) {
      sites = new ReservationSites();
    }
  }

  /** In debug mode, where the bytes this node holds were reserved (empty if none or not in debug mode). */
  public String describeReservationSites() {
    ReservationSites recording = sites;
    return recording == null ? "" : recording.describe();
  }

  @Override
  public Borrowing borrow(long bytes) {
    Borrowing borrowing = borrowForChild(bytes);
    ReservationSites recording = sites;
    if (recording != null && borrowing.isGranted()) {
      recording.borrowed(bytes);
    }
    return borrowing;
  }

  /** {@link #borrow} for a child's account: the bytes are the child's and recorded there. */
  Borrowing borrowForChild(long bytes) {
    Arguments.size(bytes, "borrow(bytes)", "bytes", this);
    if (closed) {
      throw closedError("borrow of " + bytes + " bytes");
    }
    return account.borrow(bytes);
  }

  /**
   * Borrows {@code bytes} or throws the task's out-of-memory error, which names the request,
   * the reason, the usage tree of the whole task and the setting to change.
   */
  public void reserve(long bytes) {
    Arguments.size(bytes, "reserve(bytes)", "bytes", this);
    Borrowing borrowing = borrow(bytes);
    if (!borrowing.isGranted()) {
      throw OutOfMemory.error(path, bytes, borrowing, root.usage());
    }
  }

  @Override
  public void repay(long bytes) {
    repayForChild(bytes);
    ReservationSites recording = sites;
    if (recording != null) {
      recording.repaid(bytes);
    }
  }

  /** {@link #repay} for a child's account. */
  void repayForChild(long bytes) {
    Arguments.size(bytes, "repay(bytes)", "bytes", this);
    if (closed) {
      return;
    }
    account.repay(bytes);
  }

  @Override
  public long usedBytes() {
    return account.usedBytes();
  }

  @Override
  public long peakBytes() {
    return account.peakBytes();
  }

  /**
   * Frees up to about {@code bytes} in this subtree for one phase: children largest first, then
   * this node's own spiller. Returns the bytes repaid.
   */
  public long spill(SpillPhase phase, long bytes) {
    long freed = 0;
    List<TreeNode> byUse = new ArrayList<>(children);
    byUse.sort(LARGEST_FIRST);
    for (TreeNode child : byUse) {
      if (freed >= bytes) {
        return freed;
      }
      if (child.usedBytes() > 0) {
        freed += child.spill(phase, bytes - freed);
      }
    }
    if (freed < bytes && !closed) {
      freed += spiller.spill(this, phase, bytes - freed);
    }
    return freed;
  }

  /**
   * A snapshot of this subtree's usage. The root also shows what the task's reservation holds
   * for it: the bytes reserved in blocks, used or not.
   */
  public MemoryUsage usage() {
    List<MemoryUsage> childUsage = new ArrayList<>(children.size());
    for (TreeNode child : children) {
      childUsage.add(child.usage());
    }
    return new MemoryUsage(name, usedBytes(), peakBytes(), account.reservedBytes(), childUsage);
  }

  /**
   * Closes this subtree, force-releases whatever it still holds, and returns what was still held,
   * node by node. Closing twice returns nothing the second time.
   */
  public List<MemoryLeak> close() {
    List<MemoryLeak> leaks = new ArrayList<>();
    closeInto(leaks);
    return leaks;
  }

  private void closeInto(List<MemoryLeak> leaks) {
    if (closed) {
      return;
    }
    for (TreeNode child : children) {
      child.closeInto(leaks);
    }
    closed = true;
    long residue = account.releaseAll();
    if (residue > 0) {
      leaks.add(new MemoryLeak(path, residue, describeReservationSites()));
    }
  }

  /** The error for using a closed node; built only when thrown (borrow is a hot path). */
  private IllegalStateException closedError(String what) {
    return new IllegalStateException(
        what + " on memory node '" + path + "', which was closed at the end of its task");
  }

  @Override
  public String toString() {
    return "TreeNode(" + path + ", used=" + usedBytes() + ")";
  }
}

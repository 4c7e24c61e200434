package io.dynoffheap.arrow;

import io.dynoffheap.TaskScoped;
import io.dynoffheap.memory.Bytes;
import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.SpillPhase;
import io.dynoffheap.memory.Spiller;
import io.dynoffheap.memory.TreeNode;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Arrow root allocator whose buffers are reserved from a node of a task's memory tree, and
 * what closes it when the task ends.
 *
 * <p>The node (a child of the given parent, named after the allocator) holds the reservation of
 * every buffer of the allocator and of all its child allocators, through one
 * {@link TreeReservationListener}. The node has no capacity of its own: the plugin's limit is the
 * task's (Spark's off-heap pool, or the executor quota with dynamic sizing), and the optional
 * {@code limit} is Arrow's own, counted in exact bytes by Arrow. When the tree spills, the node
 * first gives back the unused tail of its reservation ({@link SpillPhase#SHRINK}), then asks the
 * {@link ArrowSpiller} to close buffers ({@link SpillPhase#SPILL}).
 *
 * <p>{@link #close()} (at task end, or by its owner) closes the Arrow allocator, gives the whole
 * reservation back and closes the node. Buffers still open are a leak: they are reported as one
 * {@link MemoryLeak} of the node, whose text carries Arrow's own leak report (the allocator tree
 * with its outstanding children) and, in debug mode (spark.dynoffheap.debug), where the node's
 * blocks were reserved, and their reservation is released all the same. Closing the
 * Arrow allocator earlier by hand is fine and recommended; closing twice reports nothing the
 * second time.
 */
public final class TaskAllocator implements TaskScoped {
  private static final Logger LOG = LoggerFactory.getLogger(TaskAllocator.class);

  private final TreeNode node;
  private final TreeReservationListener listener;
  private final RootAllocator allocator;
  private boolean closed;

  private TaskAllocator(TreeNode parent, String name, long blockSize, long limit,
      ArrowSpiller spiller) {
    if (limit <= 0) {
      throw new IllegalArgumentException(
          "the limit of Arrow allocator '" + name + "' must be positive, was " + limit);
    }
    NodeSpiller nodeSpiller = new NodeSpiller(spiller == null ? ArrowSpiller.NONE : spiller);
    this.node = parent.newChild(name, TreeNode.UNLIMITED, nodeSpiller);
    this.listener = new TreeReservationListener(node, blockSize, parent);
    nodeSpiller.listener = listener;
    this.allocator = new RootAllocator(listener, limit);
  }

  /** An allocator without an Arrow limit and without a spiller, under {@code parent}. */
  public static TaskAllocator open(TreeNode parent, String name, long blockSize) {
    return open(parent, name, blockSize, Long.MAX_VALUE, ArrowSpiller.NONE);
  }

  /**
   * An allocator under {@code parent}.
   *
   * @param name the name of the new node and of the Arrow allocator
   * @param blockSize the size of each reservation from the tree
   * @param limit Arrow's limit for the allocator tree, in bytes ({@code Long.MAX_VALUE}: none)
   * @param spiller closes buffers of this allocator when memory is wanted
   */
  public static TaskAllocator open(TreeNode parent, String name, long blockSize, long limit,
      ArrowSpiller spiller) {
    return new TaskAllocator(parent, name, blockSize, limit, spiller);
  }

  /** The Arrow allocator: make buffers, vectors and child allocators from it. */
  public BufferAllocator allocator() {
    return allocator;
  }

  /** The tree node that holds the reservation of this allocator's buffers. */
  public TreeNode node() {
    return node;
  }

  public TreeReservationListener listener() {
    return listener;
  }

  /**
   * Closes the Arrow allocator and the node, gives the reservation back, and returns what was
   * leaked (with Arrow's report). Never throws.
   */
  @Override
  public synchronized List<MemoryLeak> close() {
    if (closed) {
      return List.of();
    }
    closed = true;
    List<MemoryLeak> leaks = new ArrayList<>();
    try {
      long arrowBytes = allocator.getAllocatedMemory();
      String arrowReport = null;
      try {
        allocator.close();
      } catch (RuntimeException e) {
        arrowReport = e.getMessage();
      }
      if (arrowReport == null && arrowBytes > 0) {
        // Its owner closed it already and got Arrow's exception; the bytes are still out.
        arrowReport = "Memory was leaked. Memory leaked: (" + arrowBytes + ")\n" + allocator;
      }
      long counted = listener.allocatedBytes();
      String sites = node.describeReservationSites();
      long released = listener.close();
      if (arrowReport != null) {
        leaks.add(new MemoryLeak(node.path() + " [its Arrow allocator still had "
            + Bytes.format(arrowBytes) + " in buffers at close. Arrow's report: "
            + arrowReport.strip() + "]", released, sites));
      } else if (counted > 0) {
        LOG.debug("Arrow allocator of memory node '{}' closed with {} bytes counted by failed "
            + "allocations", node.path(), counted);
      }
      leaks.addAll(node.close());
    } catch (RuntimeException e) {
      LOG.error("Closing the Arrow allocator of memory node '{}' failed", node.path(), e);
      leaks.add(new MemoryLeak(node.path() + " [closing its Arrow allocator failed: " + e + "]",
          node.usedBytes()));
      leaks.addAll(node.close());
    }
    return leaks;
  }

  /** The unused tail of the reservation, from any thread ({@link TreeReservationListener#shrink}). */
  @Override
  public long releaseUnused() {
    return listener.shrink();
  }

  @Override
  public String toString() {
    return "TaskAllocator(" + node.path() + ", allocated=" + allocator.getAllocatedMemory()
        + ", reserved=" + listener.reservedBytes() + ")";
  }

  /**
   * The node's spiller: the unused tail of the reservation on SHRINK, the Arrow spiller on SPILL.
   * Returns the bytes the node gave back.
   */
  private static final class NodeSpiller implements Spiller {
    private final ArrowSpiller arrowSpiller;
    private volatile TreeReservationListener listener;

    NodeSpiller(ArrowSpiller arrowSpiller) {
      this.arrowSpiller = arrowSpiller;
    }

    @Override
    public long spill(TreeNode node, SpillPhase phase, long bytes) {
      TreeReservationListener current = listener;
      if (current == null) {
        return 0;
      }
      if (phase == SpillPhase.SHRINK) {
        return current.shrink();
      }
      long before = node.usedBytes();
      arrowSpiller.spill(bytes);
      return Math.max(0, before - node.usedBytes());
    }
  }
}

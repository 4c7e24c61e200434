package io.dynoffheap.memory;

/**
 * Frees memory of one node when asked: a native pool giving back blocks, an operator writing its
 * buffers to disk. The spiller frees by repaying the node it belongs to, and returns how many
 * bytes it repaid.
 */
@FunctionalInterface
public interface Spiller {

  /** A spiller that never frees anything. */
  Spiller NONE = (node, phase, bytes) -> 0L;

  /**
   * @param node the node this spiller belongs to
   * @param phase which phase of the spill is running
   * @param bytes how many bytes are wanted (a hint: freeing more or less is allowed)
   * @return bytes actually repaid to {@code node}
   */
  long spill(TreeNode node, SpillPhase phase, long bytes);
}

package io.dynoffheap.memory;

/**
 * Bytes a node still held when its tree was closed, named by the node's path in the tree; in
 * debug mode (spark.dynoffheap.debug) {@code sites} tells where they were reserved (the Java
 * stacks of a node, or for a native pool the native sites that allocated them), else it is
 * empty.
 */
public record MemoryLeak(String path, long bytes, String sites) {
  public MemoryLeak(String path, long bytes) {
    this(path, bytes, "");
  }

  @Override
  public String toString() {
    return path + " held " + Bytes.format(bytes) + sites;
  }
}

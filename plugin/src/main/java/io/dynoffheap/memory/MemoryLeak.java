package io.dynoffheap.memory;

/** Bytes a node still held when its tree was closed, named by the node's path in the tree. */
public record MemoryLeak(String path, long bytes) {
  @Override
  public String toString() {
    return path + " held " + Bytes.format(bytes);
  }
}

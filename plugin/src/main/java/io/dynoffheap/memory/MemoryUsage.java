package io.dynoffheap.memory;

import java.util.List;

/**
 * A snapshot of a tree of targets: name, current and peak bytes of each node, and what is
 * reserved for it (more than used at a task's root, which reserves in blocks; equal elsewhere).
 * Rendered as the indented usage tree that error messages and leak reports show.
 */
public record MemoryUsage(String name, long used, long peak, long reserved,
    List<MemoryUsage> children) {

  public MemoryUsage {
    children = List.copyOf(children);
  }

  /** The tree, one node a line, children indented under their parent. */
  public String render() {
    StringBuilder out = new StringBuilder();
    render(out, 0);
    return out.toString();
  }

  private void render(StringBuilder out, int depth) {
    out.append("  ".repeat(depth)).append(name)
        .append(": used ").append(Bytes.format(used))
        .append(", peak ").append(Bytes.format(peak));
    if (reserved != used) {
      out.append(", reserved ").append(Bytes.format(reserved));
    }
    out.append('\n');
    for (MemoryUsage child : children) {
      child.render(out, depth + 1);
    }
  }
}

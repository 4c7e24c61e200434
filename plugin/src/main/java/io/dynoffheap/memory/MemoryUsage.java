package io.dynoffheap.memory;

import java.util.List;

/**
 * A snapshot of a tree of targets: name, current and peak bytes of each node. Rendered as the
 * indented usage tree that error messages and leak reports show.
 */
public record MemoryUsage(String name, long used, long peak, List<MemoryUsage> children) {

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
        .append(", peak ").append(Bytes.format(peak)).append('\n');
    for (MemoryUsage child : children) {
      child.render(out, depth + 1);
    }
  }
}

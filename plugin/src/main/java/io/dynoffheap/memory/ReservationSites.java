package io.dynoffheap.memory;

import java.util.ArrayList;
import java.util.List;

/**
 * Debug mode (spark.dynoffheap.debug): where the live reservations of one tree node were made, so
 * a leak report can say which code reserved the bytes that were never given back, as Arrow's
 * allocator debug mode keeps a history per buffer.
 *
 * <p>Algorithm. Every borrow granted at the node itself (not one passed up from a child) is
 * recorded with its size, the thread and the Java stack of the caller. A repay takes back the
 * most recent record of exactly its size if there is one; otherwise it takes bytes from the most
 * recent records down (last in, first out) until its bytes are covered. The records left are the
 * bytes the node holds, each with the stack that borrowed them. This is exact when code repays
 * the sizes it borrowed, in any order; otherwise the stacks are still the places that borrowed,
 * only the split of the bytes between them is a guess.
 *
 * <p>Cost: the JVM's capture of the stack per borrow (a {@link Throwable}, made into text only
 * for a report) and a short lock per borrow and repay; for finding leaks in tests and
 * reproductions, not for production.
 */
final class ReservationSites {
  /** The most sites one leak report prints; the rest are counted. */
  static final int REPORTED_SITES = 10;
  /** The most stack frames printed per site, the caller's first. */
  static final int REPORTED_FRAMES = 24;

  /** One borrow still (partly) held. */
  private static final class Site {
    long bytes;
    final String thread;
    /** Made by the borrowing thread: its stack, turned into text only for a report. */
    final Throwable stack;

    Site(long bytes, String thread, Throwable stack) {
      this.bytes = bytes;
      this.thread = thread;
      this.stack = stack;
    }
  }

  /** Oldest first; guarded by this. */
  private final List<Site> live = new ArrayList<>();

  /** Records a granted borrow of {@code bytes} made by the calling thread. */
  void borrowed(long bytes) {
    Site site = new Site(bytes, Thread.currentThread().getName(), new Throwable());
    synchronized (this) {
      live.add(site);
    }
  }

  /** Takes {@code bytes} off the records: an exact match first, else the most recent ones. */
  synchronized void repaid(long bytes) {
    for (int i = live.size() - 1; i >= 0; i--) {
      if (live.get(i).bytes == bytes) {
        live.remove(i);
        return;
      }
    }
    long left = bytes;
    for (int i = live.size() - 1; i >= 0 && left > 0; i--) {
      Site site = live.get(i);
      long taken = Math.min(site.bytes, left);
      site.bytes -= taken;
      left -= taken;
      if (site.bytes == 0) {
        live.remove(i);
      }
    }
  }

  /**
   * The live records, newest first, as text for a leak report: bytes, thread and the stack from
   * the code that called the node (frames of the tree itself are left out). Empty if none.
   */
  synchronized String describe() {
    if (live.isEmpty()) {
      return "";
    }
    StringBuilder out = new StringBuilder("; reserved at (spark.dynoffheap.debug):");
    for (int i = live.size() - 1, shown = 0; i >= 0; i--, shown++) {
      if (shown == REPORTED_SITES) {
        out.append("\n    ... and ").append(i + 1).append(" more");
        break;
      }
      Site site = live.get(i);
      out.append("\n    ").append(Bytes.format(site.bytes)).append(" by thread '")
          .append(site.thread).append("'");
      int frames = 0;
      for (StackTraceElement frame : site.stack.getStackTrace()) {
        if (isTreeFrame(frame.getClassName())) {
          continue;
        }
        if (frames++ == REPORTED_FRAMES) {
          out.append("\n        ...");
          break;
        }
        out.append("\n        at ").append(frame);
      }
    }
    return out.toString();
  }

  private static boolean isTreeFrame(String type) {
    return type.equals(ReservationSites.class.getName()) || type.equals(TreeNode.class.getName());
  }
}

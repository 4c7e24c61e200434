package io.dynoffheap;

import io.dynoffheap.memory.MemoryLeak;
import java.util.List;

/**
 * Something that lives as long as one task (a native pool) and is closed when the task ends; if
 * it reserves memory in blocks, it gives back the unused ones when the executor is short.
 */
@FunctionalInterface
public interface TaskScoped {
  /** Releases what it holds and returns what was still in use: each entry is a leak. */
  List<MemoryLeak> close();

  /**
   * Gives reserved but unused memory back to its node, called from any thread, also while or
   * after it closes: no spill, no lock of Spark, only locks that are never held while waiting.
   * Returns the bytes given back; by default there are none.
   */
  default long releaseUnused() {
    return 0;
  }
}

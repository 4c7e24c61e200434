package io.dynoffheap;

import io.dynoffheap.memory.MemoryLeak;
import java.util.List;

/** Something that lives as long as one task (a native pool) and is closed when the task ends. */
@FunctionalInterface
public interface TaskScoped {
  /** Releases what it holds and returns what was still in use: each entry is a leak. */
  List<MemoryLeak> close();
}

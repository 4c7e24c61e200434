package io.dynoffheap.memory;

/**
 * Memory a running task has reserved against the executor quota but does not use (its root's
 * headroom, the unused blocks of its native pools and Arrow allocators), which another thread
 * may take back when the quota is short ({@link IdleReclaim}).
 *
 * <p>Contract: {@link #reclaimIdle()} may be called from any thread, also while the task is
 * running, closing or closed; it gives back only unused bytes (never data: no spill) and takes
 * no lock of Spark and no lock that is held while waiting for anything.
 */
@FunctionalInterface
public interface IdleMemory {

  /** Gives the idle bytes back to the executor quota; returns how many. */
  long reclaimIdle();
}

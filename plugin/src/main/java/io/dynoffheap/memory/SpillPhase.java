package io.dynoffheap.memory;

/**
 * The two phases of a spill, run in this order over a whole tree: first every node gives back
 * what it reserved but does not use (cheap), then nodes write data out (expensive).
 */
public enum SpillPhase {
  /** Give back reserved but unused memory, such as the free part of a native pool's blocks. */
  SHRINK,
  /** Write data out (to disk, or by compacting) and give back the memory it used. */
  SPILL
}

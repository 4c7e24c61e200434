package io.dynoffheap.nativebridge;

/**
 * Where a {@link NativePool} reserves the memory it hands to native code: the JVM side of
 * the accounting (in the plugin, a node of the task's memory-target tree).
 *
 * <p>Both methods are called from native code through JNA, on whichever thread allocates
 * or frees: Spark task threads, and also native threads the JVM did not start (attached
 * as daemon threads named {@code dynoffheap-native}). Implementations must be
 * thread-safe. For one pool, at most one {@code reserve} call is in flight at a time;
 * {@code release} calls may overlap with each other and with {@code reserve}.
 *
 * <p>Amounts are whole multiples of the pool's block size. Every byte granted by
 * {@code reserve} is given back by exactly one later {@code release} (at the latest when
 * the pool is closed).
 */
public interface PoolReservations {

    /**
     * Reserves {@code bytes} more for the pool, or denies them by throwing. Any
     * {@link Throwable} denies the reservation: the native allocation that needed it fails
     * (NULL / nonzero return), its message becomes the pool's error text, and the
     * throwable is kept as {@link NativePool#lastDenial()} so the Java code that called
     * into native can rethrow it (for instance as a SparkOutOfMemoryError). The
     * implementation may block (spill others, wait for a GC); native code waits meanwhile.
     * It may call {@link NativePool#spill} or {@link NativePool#shrink} on the same pool,
     * but must not close it (the pool waits for this call to return before closing).
     *
     * @param bytes a positive multiple of the pool's block size
     */
    void reserve(long bytes);

    /**
     * Gives back {@code bytes} reserved before. Must not block for long; a throwable is
     * logged and counted ({@link NativePool#releaseFailures()}), never propagated to native
     * code, and the pool considers the bytes released anyway.
     *
     * @param bytes a positive multiple of the pool's block size
     */
    void release(long bytes);
}

package io.dynoffheap.nativebridge;

import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * A libdynoffheap pool: native code allocates through it (see {@code dynoffheap.h}) and
 * every byte it holds is reserved from {@link PoolReservations} first, in whole blocks.
 *
 * <p>Give {@link #handle()} to the native code (as a {@code long}); it turns it into a
 * pool with {@code dynoffheap_pool_from_handle()} and allocates with the inline wrappers
 * of the header. When native code reports a failed allocation, {@link #lastDenial()}
 * holds the throwable with which the reservations denied it (if that was the cause), and
 * {@link #lastError()} the text the native side saw.
 *
 * <p>A native call that cannot return its failure, such as a second free of one pointer, is
 * a <em>misuse</em>: the library refuses it and counts it, and {@link #misuses()} and
 * {@link #firstMisuse()} tell the owner, which should fail the task with that text. The
 * texts name the pool by the name given here (the task and the memory node).
 *
 * <p>Closing releases every reserved byte to the reservations and returns the bytes that
 * native code still holds (a leak to report). A pool in the library's debug mode (made with
 * {@code debug} true, or while {@link NativeBridge#setDebug} is on) also records where native
 * code made each allocation; then {@link #leakReport()} groups the bytes still held by those
 * sites, and misuse texts name where the block was allocated and first freed. Afterwards native allocations on the pool
 * fail with "pool closed" and frees still work. The native library keeps a closed pool as
 * it is for the next 4096 pool closes in the process (its quarantine); while this
 * object's pool is in that window, {@link #used()}, {@link #lastError()} and the misuse
 * getters still read the native state (the bytes not yet freed, the latest refusal), and
 * after it they answer from what was known at close (the native handle is stale then,
 * and native calls through it are refused). All methods are thread-safe.
 */
public final class NativePool implements AutoCloseable {

    /** Default reservation unit: 8 MiB, as {@code spark.gluten.memory.reservationBlockSize}. */
    public static final long DEFAULT_BLOCK_SIZE = 8L << 20;
    /** Smallest block size (DYNOFFHEAP_MIN_BLOCK_SIZE). */
    public static final long MIN_BLOCK_SIZE = 4096;
    /** Largest block size (DYNOFFHEAP_MAX_BLOCK_SIZE). */
    public static final long MAX_BLOCK_SIZE = 1L << 40;

    private static final int ERROR_BUFFER_BYTES = 512; // DYNOFFHEAP_ERROR_MAX
    /**
     * Closes after which a closed pool is still safe to read: DYNOFFHEAP_QUARANTINE_SIZE
     * (4096) minus a margin for closes that have happened natively but are not counted
     * in {@link #CLOSES} yet. Every pool of the process is created and closed here.
     */
    private static final long SAFE_CLOSES_AFTER = 4096 - 256;
    private static final AtomicLong CLOSES = new AtomicLong();
    private static final AtomicLong NEXT_ID = new AtomicLong(1);
    private static final System.Logger LOG = System.getLogger(NativePool.class.getName());

    private final long id;
    private final long handle;
    private final long blockSize;
    private final PoolReservations reservations;

    private final AtomicLong jvmReserved = new AtomicLong();
    private final AtomicReference<Throwable> lastDenial = new AtomicReference<>();
    private final LongAdder denials = new LongAdder();
    private final LongAdder releaseFailures = new LongAdder();
    private final AtomicBoolean closing = new AtomicBoolean();
    private volatile ClosedState closedState; // set once close() has finished

    /** What the getters report once the pool is closed. */
    private record ClosedState(long leaked, long peak, String lastError, Misuses misuses,
            String leakReport, long closeNumber) {

        /** Whether the native pool is certainly still in the library's quarantine. */
        boolean nativeReadable() {
            return CLOSES.get() - closeNumber < SAFE_CLOSES_AFTER;
        }
    }

    /** The count of misuses and the text of the first one ("" when there was none). */
    private record Misuses(long count, String first) {
    }

    /** A pool with {@link #DEFAULT_BLOCK_SIZE} blocks. */
    public NativePool(PoolReservations reservations) {
        this(reservations, DEFAULT_BLOCK_SIZE);
    }

    /** A pool named by its id in native error texts. */
    public NativePool(PoolReservations reservations, long blockSize) {
        this(reservations, blockSize, null);
    }

    /** A pool in the library's default mode (see {@link NativeBridge#setDebug}). */
    public NativePool(PoolReservations reservations, long blockSize, String name) {
        this(reservations, blockSize, name, false);
    }

    /**
     * A pool that reserves from {@code reservations} in blocks of {@code blockSize} bytes;
     * native error texts end with {@code (pool '<name>')} (null: the id). With {@code debug}
     * the pool runs in the library's debug mode (records allocation sites for
     * {@link #leakReport()}); without it, in the process's default mode.
     *
     * @throws IllegalArgumentException when blockSize is outside
     *         [{@link #MIN_BLOCK_SIZE}, {@link #MAX_BLOCK_SIZE}]
     * @throws NativeLibraryUnavailableException when libdynoffheap cannot be loaded
     */
    public NativePool(PoolReservations reservations, long blockSize, String name,
            boolean debug) {
        this.reservations = Objects.requireNonNull(reservations, "reservations");
        if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
            throw new IllegalArgumentException("blockSize " + blockSize + " is outside ["
                    + MIN_BLOCK_SIZE + ", " + MAX_BLOCK_SIZE + "]");
        }
        NativeBridge.load();
        this.id = NEXT_ID.getAndIncrement();
        this.blockSize = blockSize;
        long created = debug ? NativeBridge.dynoffheap_bridge_pool_create_debug(id, blockSize)
                : NativeBridge.dynoffheap_bridge_pool_create(id, blockSize);
        if (created == 0) {
            throw new IllegalStateException("dynoffheap_bridge_pool_create(" + id + ", "
                    + blockSize + ") failed");
        }
        this.handle = created;
        if (name != null) {
            NativeBridge.setName(handle, name);
        }
        // Callbacks need a handle, which nothing has before this constructor returns.
        BridgeCallbacks.register(this);
    }

    /** The pool pointer as a long, for native code (dynoffheap_pool_from_handle). */
    public long handle() {
        return handle;
    }

    /** The id under which the callbacks report this pool (unique in this JVM). */
    public long id() {
        return id;
    }

    public long blockSize() {
        return blockSize;
    }

    /**
     * Bytes native code holds through the pool (headers and padding included). After
     * close: the bytes not freed yet (see the class comment).
     */
    public long used() {
        ClosedState closed = closedState;
        return closed == null || closed.nativeReadable()
                ? NativeBridge.dynoffheap_bridge_pool_used(handle) : closed.leaked();
    }

    /** Highest {@link #used()} seen. */
    public long peak() {
        ClosedState closed = closedState;
        return closed != null ? closed.peak() : NativeBridge.dynoffheap_bridge_pool_peak(handle);
    }

    /** Bytes the pool holds from the reservations; a multiple of the block size. */
    public long reserved() {
        return closedState != null ? 0 : NativeBridge.dynoffheap_bridge_pool_reserved(handle);
    }

    /**
     * Bytes granted by {@link PoolReservations#reserve} minus bytes given back through
     * {@link PoolReservations#release}: equals {@link #reserved()} whenever no callback is
     * in flight.
     */
    public long jvmReservedBytes() {
        return jvmReserved.get();
    }

    /** The pool's last error text, "" when there was none. */
    public String lastError() {
        ClosedState closed = closedState;
        return closed == null || closed.nativeReadable() ? readLastError() : closed.lastError();
    }

    /**
     * Misuses native code made of the pool so far: frees of pointers that are not live
     * allocations of the pool or have the wrong kind or size, releases of more than was
     * reserved. Each was refused and changed nothing.
     */
    public long misuses() {
        ClosedState closed = closedState;
        return closed == null || closed.nativeReadable()
                ? NativeBridge.dynoffheap_bridge_pool_misuses(handle, null, 0)
                : closed.misuses().count();
    }

    /** The text of the first misuse ("" when there was none): call, pointer, pool name. */
    public String firstMisuse() {
        return currentMisuses().first();
    }

    /**
     * Where the bytes native code still held at close were allocated, grouped by native site
     * ("symbol+0xoffset (library)"), largest first, one line per site: made by a pool in debug
     * mode that was closed with live allocations; "" otherwise (also before close). See
     * {@code dynoffheap_bridge_pool_leak_report} in {@code dynoffheap_bridge.h}.
     */
    public String leakReport() {
        ClosedState closed = closedState;
        return closed != null ? closed.leakReport() : "";
    }

    /** The throwable of the most recent denied reservation, or null. */
    public Throwable lastDenial() {
        return lastDenial.get();
    }

    /** Returns {@link #lastDenial()} and clears it, so one denial is rethrown once. */
    public Throwable takeLastDenial() {
        return lastDenial.getAndSet(null);
    }

    /** Reservations denied so far. */
    public long denials() {
        return denials.sum();
    }

    /** {@link PoolReservations#release} calls that threw. */
    public long releaseFailures() {
        return releaseFailures.sum();
    }

    /** Gives every whole block not needed by live allocations back; returns the bytes. */
    public long shrink() {
        return closedState != null ? 0 : NativeBridge.dynoffheap_bridge_pool_shrink(handle);
    }

    /**
     * Asks the native side's spill function (if it registered one) to free {@code bytes},
     * then shrinks. Returns the bytes given back to the reservations during the call.
     */
    public long spill(long bytes) {
        if (bytes <= 0 || closedState != null) {
            return 0;
        }
        return NativeBridge.dynoffheap_bridge_pool_spill(handle, bytes);
    }

    public boolean isClosed() {
        return closing.get();
    }

    /**
     * Closes the pool: every reserved byte goes back to the reservations, and the bytes
     * native code still holds are returned (0 when nothing leaked). Later calls return the
     * same number.
     */
    public long closeAndReportLeaks() {
        if (!closing.compareAndSet(false, true)) {
            ClosedState closed = awaitClosedState();
            return closed.leaked();
        }
        long peak = NativeBridge.dynoffheap_bridge_pool_peak(handle);
        String error = readLastError();
        long leaked = NativeBridge.dynoffheap_bridge_pool_close(handle); // calls release()
        Misuses misuses = readMisuses();
        String leakReport = leaked != 0 ? readLeakReport() : "";
        long closeNumber = CLOSES.incrementAndGet();
        BridgeCallbacks.unregister(this);
        String finalError = "pool closed" + (error.isEmpty() ? "" : "; last error before: " + error);
        closedState = new ClosedState(leaked, Math.max(peak, leaked), finalError, misuses,
                leakReport, closeNumber);
        synchronized (this) {
            notifyAll();
        }
        return leaked;
    }

    /** Same as {@link #closeAndReportLeaks()}; the leak count is logged when nonzero. */
    @Override
    public void close() {
        boolean first = !closing.get();
        long leaked = closeAndReportLeaks();
        if (first && leaked != 0) {
            String report = leakReport();
            LOG.log(Level.WARNING, "dynoffheap pool {0} closed with {1} bytes still allocated "
                    + "by native code{2}", id, leaked, report.isEmpty() ? "" : ": " + report);
        }
    }

    @Override
    public String toString() {
        return "NativePool[id=" + id + ", used=" + used() + ", reserved=" + reserved()
                + ", blockSize=" + blockSize + (isClosed() ? ", closed" : "") + "]";
    }

    // ---- called by BridgeCallbacks --------------------------------------------------------

    /** Reserve callback: true when granted; a throwable from the reservations denies. */
    boolean onReserve(long bytes) {
        try {
            reservations.reserve(bytes);
        } catch (Throwable t) {
            lastDenial.set(t);
            denials.increment();
            NativeBridge.setError(handle, denialText(t));
            return false;
        }
        jvmReserved.addAndGet(bytes);
        return true;
    }

    /** Release callback: the bytes are gone from the pool whatever the reservations do. */
    void onRelease(long bytes) {
        jvmReserved.addAndGet(-bytes);
        try {
            reservations.release(bytes);
        } catch (Throwable t) {
            releaseFailures.increment();
            LOG.log(Level.ERROR, "dynoffheap pool " + id + ": release of " + bytes
                    + " bytes failed", t);
        }
    }

    static String denialText(Throwable t) {
        String message = t.getMessage();
        return message != null && !message.isEmpty() ? message : t.toString();
    }

    private String readLastError() {
        byte[] buf = new byte[ERROR_BUFFER_BYTES];
        long length = NativeBridge.dynoffheap_bridge_pool_last_error(handle, buf, buf.length);
        return text(buf, length);
    }

    /** The library's leak report of this (just closed) pool, "" when it made none. */
    private String readLeakReport() {
        long length = NativeBridge.dynoffheap_bridge_pool_leak_report(handle, null, 0);
        if (length <= 0) {
            return "";
        }
        byte[] buf = new byte[(int) Math.min(length + 1, 1 << 20)];
        long whole = NativeBridge.dynoffheap_bridge_pool_leak_report(handle, buf, buf.length);
        return text(buf, whole);
    }

    private Misuses currentMisuses() {
        ClosedState closed = closedState;
        return closed == null || closed.nativeReadable() ? readMisuses() : closed.misuses();
    }

    private Misuses readMisuses() {
        byte[] buf = new byte[ERROR_BUFFER_BYTES];
        long count = NativeBridge.dynoffheap_bridge_pool_misuses(handle, buf, buf.length);
        return new Misuses(count, count == 0 ? "" : text(buf, indexOfNul(buf)));
    }

    private static int indexOfNul(byte[] buf) {
        int n = 0;
        while (n < buf.length && buf[n] != 0) {
            n++;
        }
        return n;
    }

    /** The first {@code length} bytes of a NUL-terminated UTF-8 buffer, cut to fit. */
    private static String text(byte[] buf, long length) {
        int n = (int) Math.min(Math.max(length, 0), buf.length - 1);
        return new String(buf, 0, n, StandardCharsets.UTF_8);
    }

    /** Waits for a close running on another thread to finish. */
    private ClosedState awaitClosedState() {
        ClosedState closed = closedState;
        if (closed != null) {
            return closed;
        }
        boolean interrupted = false;
        synchronized (this) {
            while ((closed = closedState) == null) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return closed;
    }
}

package io.dynoffheap.nativebridge;

import com.sun.jna.Callback;
import com.sun.jna.CallbackThreadInitializer;
import com.sun.jna.Native;

import java.lang.System.Logger.Level;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The two JVM callbacks of libdynoffheap, one instance each for the whole JVM.
 *
 * <p>libdynoffheap calls {@code reserve(pool_id, bytes)} when a pool needs more blocks and
 * {@code release(pool_id, bytes)} when it gives blocks back; both are dispatched by pool
 * id to the {@link NativePool} registered here.
 *
 * <p>Rules this class follows, all from how JNA works:
 * <ul>
 *   <li>Native code holds only a weak reference to a callback, so the instances live in
 *       static final fields for the JVM's life, and are registered once
 *       ({@link #install()}, called by {@link NativeBridge#load()}).</li>
 *   <li>The callback methods take and return primitives only, so JNA uses its direct
 *       (reflection-free) callback path.</li>
 *   <li>A Java exception must never reach native code. JNA would hand it to its callback
 *       exception handler and return a zero-filled result; here every Throwable is caught,
 *       and 0 means "denied" in the C API, so even an escaped exception denies.</li>
 *   <li>Native threads the JVM did not start are attached on their first callback. By
 *       default JNA attaches and detaches such a thread around every callback (about 17
 *       microseconds each); the {@link CallbackThreadInitializer}(daemon=true,
 *       detach=false) below keeps it attached as a daemon thread named
 *       {@value #THREAD_NAME}. JNA does not leak these threads: with detach=false its
 *       native dispatcher (native/callback.c, callback_dispatch) stores the JavaVM in a
 *       pthread key whose destructor calls DetachCurrentThread, so each native thread is
 *       detached when it exits. The initializer must be set before the callback is first
 *       turned into a function pointer, which is why install() sets it first.</li>
 * </ul>
 */
final class BridgeCallbacks {

    /** Name of native threads attached to the JVM by a callback. */
    static final String THREAD_NAME = "dynoffheap-native";

    private static final System.Logger LOG = System.getLogger(BridgeCallbacks.class.getName());

    /** C: {@code int32_t (*)(int64_t pool_id, int64_t bytes)}; 1 = granted, 0 = denied. */
    public interface ReserveCallback extends Callback {
        int invoke(long poolId, long bytes);
    }

    /** C: {@code void (*)(int64_t pool_id, int64_t bytes)}. */
    public interface ReleaseCallback extends Callback {
        void invoke(long poolId, long bytes);
    }

    private static final ConcurrentHashMap<Long, NativePool> POOLS = new ConcurrentHashMap<>();

    // Strong references for the JVM's life: native code only has the function pointers.
    static final ReserveCallback RESERVE = new ReserveDispatcher();
    static final ReleaseCallback RELEASE = new ReleaseDispatcher();

    private BridgeCallbacks() {
    }

    /** Sets the thread initializer and registers both callbacks with the library. */
    static void install() {
        CallbackThreadInitializer attach = new CallbackThreadInitializer(true, false, THREAD_NAME);
        Native.setCallbackThreadInitializer(RESERVE, attach);
        Native.setCallbackThreadInitializer(RELEASE, attach);
        NativeBridge.dynoffheap_bridge_set_callbacks(RESERVE, RELEASE);
    }

    static void register(NativePool pool) {
        POOLS.put(pool.id(), pool);
    }

    static void unregister(NativePool pool) {
        POOLS.remove(pool.id(), pool);
    }

    /** Pools currently registered (for tests and diagnostics). */
    static int registeredPools() {
        return POOLS.size();
    }

    private static final class ReserveDispatcher implements ReserveCallback {
        @Override
        public int invoke(long poolId, long bytes) {
            try {
                NativePool pool = POOLS.get(poolId);
                return pool != null && pool.onReserve(bytes) ? 1 : 0;
            } catch (Throwable t) { // never let anything reach native code
                return 0;
            }
        }
    }

    private static final class ReleaseDispatcher implements ReleaseCallback {
        @Override
        public void invoke(long poolId, long bytes) {
            try {
                NativePool pool = POOLS.get(poolId);
                if (pool != null) {
                    pool.onRelease(bytes);
                } else {
                    LOG.log(Level.WARNING, "dynoffheap: release of {0} bytes for unknown pool {1}",
                            bytes, poolId);
                }
            } catch (Throwable t) { // never let anything reach native code
                try {
                    LOG.log(Level.ERROR, "dynoffheap: release callback failed", t);
                } catch (Throwable ignored) {
                    // logging itself failed (e.g. out of memory): nothing more to do
                }
            }
        }
    }
}

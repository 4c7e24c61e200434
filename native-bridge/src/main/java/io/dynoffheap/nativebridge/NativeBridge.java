package io.dynoffheap.nativebridge;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Loads libdynoffheap from the class path and binds its bridge functions
 * ({@code dynoffheap_bridge.h}) to the static native methods of this class through JNA
 * direct mapping ({@link Native#register(Class, NativeLibrary)}): primitive arguments,
 * no reflection per call.
 *
 * <p>The library is looked for as the class-path resource
 * {@code <Platform.RESOURCE_PREFIX>/libdynoffheap.so} (for example
 * {@code linux-x86-64/libdynoffheap.so}), which JNA extracts to {@code jna.tmpdir} when it
 * sits inside a jar. The system property {@value #LIBRARY_PATH_PROPERTY} may name a file
 * to load instead. Loading happens once per class loader, on the first
 * {@link #load()}; it also registers the JVM callbacks ({@link BridgeCallbacks}). A
 * failure is remembered and reported again, as a {@link NativeLibraryUnavailableException}
 * naming the platform and the resource, on every later call.
 */
public final class NativeBridge {

    /** System property naming a libdynoffheap file to load instead of the class-path copy. */
    public static final String LIBRARY_PATH_PROPERTY = "dynoffheap.library.path";

    /** Base name of the library. */
    public static final String LIBRARY_NAME = "dynoffheap";

    /** The DYNOFFHEAP_ABI_VERSION this binding was written for. */
    public static final int ABI_VERSION = 1;

    private static volatile boolean loaded;
    private static NativeLibraryUnavailableException failure; // guarded by NativeBridge.class

    private NativeBridge() {
    }

    /**
     * Loads and binds the library if that has not happened yet.
     *
     * @throws NativeLibraryUnavailableException when the library cannot be loaded here
     */
    public static void load() {
        if (loaded) {
            return;
        }
        synchronized (NativeBridge.class) {
            if (loaded) {
                return;
            }
            if (failure != null) {
                throw new NativeLibraryUnavailableException(failure.getMessage(), failure);
            }
            try {
                bind(locate(NativeBridge.class.getClassLoader(),
                        System.getProperty(LIBRARY_PATH_PROPERTY)));
                BridgeCallbacks.install();
                loaded = true;
            } catch (NativeLibraryUnavailableException e) {
                failure = e;
                throw e;
            } catch (LinkageError | RuntimeException e) {
                failure = new NativeLibraryUnavailableException(
                        "Cannot initialise the dynoffheap native library: " + e + " ("
                                + platformDescription() + ")", e);
                throw failure;
            }
        }
    }

    /** Whether {@link #load()} has succeeded in this class loader. */
    public static boolean isLoaded() {
        return loaded;
    }

    /** The class-path resource the library is loaded from on this platform. */
    public static String resourcePath() {
        return Platform.RESOURCE_PREFIX + "/" + System.mapLibraryName(LIBRARY_NAME);
    }

    /** "JNA platform linux-x86-64, os.name=Linux, os.arch=amd64": for error messages. */
    static String platformDescription() {
        return "JNA platform " + Platform.RESOURCE_PREFIX + ", os.name="
                + System.getProperty("os.name") + ", os.arch=" + System.getProperty("os.arch");
    }

    /**
     * Finds the library file: {@code overridePath} when given, else the class-path resource
     * (extracted to a temporary file when it is inside a jar).
     */
    static File locate(ClassLoader loader, String overridePath) {
        if (overridePath != null && !overridePath.isBlank()) {
            File file = new File(overridePath);
            if (!file.isFile()) {
                throw new NativeLibraryUnavailableException("Cannot load the dynoffheap native "
                        + "library: -D" + LIBRARY_PATH_PROPERTY + "=" + overridePath
                        + " is not a file (" + platformDescription() + ")");
            }
            return file;
        }
        String resource = resourcePath();
        ClassLoader effective = loader != null ? loader : ClassLoader.getSystemClassLoader();
        if (effective.getResource(resource) == null) {
            throw new NativeLibraryUnavailableException("Cannot load the dynoffheap native "
                    + "library: class-path resource '" + resource + "' not found ("
                    + platformDescription() + "). The jar holds builds only for the platforms "
                    + "it was built on; build native-bridge on this platform, or point -D"
                    + LIBRARY_PATH_PROPERTY + " at a libdynoffheap built for it.");
        }
        try {
            return Native.extractFromResourcePath("/" + resource, effective);
        } catch (IOException e) {
            throw new NativeLibraryUnavailableException("Cannot extract the dynoffheap native "
                    + "library from class-path resource '" + resource + "' ("
                    + platformDescription() + "): " + e.getMessage(), e);
        }
    }

    private static void bind(File file) {
        try {
            Native.register(NativeBridge.class, NativeLibrary.getInstance(file.getAbsolutePath()));
        } catch (LinkageError | RuntimeException e) {
            throw new NativeLibraryUnavailableException("Cannot load the dynoffheap native "
                    + "library " + file + " (looked up as class-path resource '"
                    + resourcePath() + "', " + platformDescription() + "): " + e, e);
        }
        int abi = dynoffheap_bridge_abi_version();
        if (abi != ABI_VERSION) {
            throw new NativeLibraryUnavailableException("The dynoffheap native library " + file
                    + " has ABI version " + abi + ", this binding needs " + ABI_VERSION);
        }
    }

    /**
     * Switches the native library's debug mode for pools created from now on: each such
     * pool keeps a map of its live allocations, so that a second free, a wrong size and a
     * free of the other kind are refused before any memory is read (see "What misuse is
     * caught" in {@code dynoffheap.h}), and records where each allocation and free was made:
     * misuse texts name the native allocation site (and a double free the first free's), and
     * a pool closed with live allocations has a {@link NativePool#leakReport()} grouped by
     * site. It costs a lock and a map update per native allocation and free. Off unless the
     * environment variable DYNOFFHEAP_DEBUG=1 was set. A single pool can be put in debug mode
     * with {@link NativePool#NativePool(PoolReservations, long, String, boolean)}.
     *
     * @throws NativeLibraryUnavailableException when libdynoffheap cannot be loaded
     */
    public static void setDebug(boolean on) {
        load();
        dynoffheap_bridge_set_debug(on ? 1 : 0);
    }

    /** Whether pools created now run in the native debug mode (see {@link #setDebug}). */
    public static boolean isDebug() {
        load();
        return dynoffheap_bridge_debug() != 0;
    }

    /** Stores {@code text} (UTF-8) as the pool's last error. */
    static void setError(long handle, String text) {
        dynoffheap_bridge_pool_set_error(handle, cString(text));
    }

    /** Names the pool in its native error texts. */
    static void setName(long handle, String name) {
        dynoffheap_bridge_pool_set_name(handle, cString(name));
    }

    /** UTF-8, NUL-terminated for C. */
    private static byte[] cString(String text) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        byte[] terminated = new byte[utf8.length + 1];
        System.arraycopy(utf8, 0, terminated, 0, utf8.length);
        return terminated;
    }

    // ---- bridge functions (see dynoffheap_bridge.h) --------------------------------------

    static native int dynoffheap_bridge_abi_version();

    static native void dynoffheap_bridge_set_callbacks(BridgeCallbacks.ReserveCallback reserve,
            BridgeCallbacks.ReleaseCallback release);

    static native void dynoffheap_bridge_set_debug(int on);

    static native int dynoffheap_bridge_debug();

    static native long dynoffheap_bridge_pool_create(long poolId, long blockSize);

    static native long dynoffheap_bridge_pool_create_debug(long poolId, long blockSize);

    static native void dynoffheap_bridge_pool_set_name(long handle, byte[] name);

    static native long dynoffheap_bridge_pool_misuses(long handle, byte[] buf, long len);

    static native void dynoffheap_bridge_pool_set_error(long handle, byte[] text);

    static native long dynoffheap_bridge_pool_last_error(long handle, byte[] buf, long len);

    static native long dynoffheap_bridge_pool_used(long handle);

    static native long dynoffheap_bridge_pool_peak(long handle);

    static native long dynoffheap_bridge_pool_reserved(long handle);

    static native long dynoffheap_bridge_pool_shrink(long handle);

    static native long dynoffheap_bridge_pool_spill(long handle, long bytes);

    static native long dynoffheap_bridge_pool_close(long handle);

    static native long dynoffheap_bridge_pool_leak_report(long handle, byte[] buf, long len);
}

package io.dynoffheap.nativebridge;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * JNA binding of libdynoffheap_testops.so (src/test/c/testops.c), a stand-in native engine
 * that allocates through a pool using only dynoffheap.h. Built by `make testops` into
 * target/test-classes/&lt;jna-dir&gt;/.
 */
final class TestOps {

    static {
        String resource = "/" + Platform.RESOURCE_PREFIX + "/"
                + System.mapLibraryName("dynoffheap_testops");
        try {
            File file = Native.extractFromResourcePath(resource, TestOps.class.getClassLoader());
            Native.register(TestOps.class, NativeLibrary.getInstance(file.getAbsolutePath()));
        } catch (IOException e) {
            throw new UncheckedIOException("test helper library " + resource + " not found", e);
        }
    }

    private TestOps() {
    }

    static native int testops_abi_ok(long handle);

    /** Allocates and touches {@code bytes}; returns the pointer, 0 on failure. */
    static native long testops_alloc(long handle, long bytes);

    static native void testops_free(long handle, long ptr);

    static native int testops_reserve(long handle, long bytes);

    static native void testops_release(long handle, long bytes);

    static native long testops_alloc_sized(long handle, long bytes);

    static native void testops_free_sized(long handle, long ptr, long bytes);

    /**
     * On a pthread: allocates {@code bytes} (sized or with a header), frees the pointer, and
     * frees it again. Returns 0 when the allocation succeeded, -1 otherwise.
     */
    static native int testops_double_free_on_thread(long handle, long bytes, int sized);

    /** On a pthread: {@link #testops_alloc}; returns the pointer, 0 on failure. */
    static native long testops_alloc_on_thread(long handle, long bytes);

    /** Runs pthreads that allocate; returns the successful allocations, -1 on error. */
    static native long testops_thread_storm(long handle, int threads, int perThread, long bytes,
            int hold);

    /** Fills the spillable stash with allocations and registers its spill function. */
    static native int testops_stash_fill(long handle, int count, long bytes);

    static native int testops_stash_count();

    static native long testops_stash_spill_calls();

    static native long testops_stash_last_wanted();

    static native void testops_stash_clear();
}

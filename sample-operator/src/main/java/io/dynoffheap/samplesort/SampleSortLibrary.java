package io.dynoffheap.samplesort;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import java.nio.charset.StandardCharsets;

/**
 * JNA direct mapping of libdynoffheap_samplesort.so (see {@code src/main/c/sample_sort.h}), loaded
 * from the class path resource {@code <jna-prefix>/libdynoffheap_samplesort.so} that the Makefile
 * builds into this module's jar.
 *
 * <p>Direct mapping (static native methods bound by {@link Native#register(Class, NativeLibrary)})
 * passes primitives and primitive arrays without reflection. A {@code long[]} argument is copied
 * into native memory for the call and back afterwards, which is what {@code samplesort_next}
 * needs. Handles (pools, sorters) travel as {@code long}.
 *
 * <p>Call the functions that can allocate through {@code TaskPool.call(...)}, so that a denied
 * allocation becomes the plugin's SparkOutOfMemoryError (the task-side wrappers do: the suites'
 * {@code SampleSorter}, the demo's {@code SampleNativeSort}).
 */
public final class SampleSortLibrary {
  /** The library name JNA resolves to libdynoffheap_samplesort.so. */
  public static final String NAME = "dynoffheap_samplesort";

  static {
    Native.register(SampleSortLibrary.class,
        NativeLibrary.getInstance(NAME, SampleSortLibrary.class.getClassLoader()));
  }

  private SampleSortLibrary() {}

  /** Loads the library now (class initialisation); throws UnsatisfiedLinkError if it cannot. */
  public static void load() {
    // The static initialiser did the work.
  }

  /**
   * The baseline without the plugin: a pool handle whose allocations are plain malloc, accounted
   * by no JVM and never denied (see {@code malloc_pool.c}). The same sorter runs on it unchanged.
   */
  public static native long samplesort_malloc_pool();

  public static native long samplesort_create(long poolHandle, int recordBytes, int allowSpill,
      String spillDir, int workerThreads);

  public static native long samplesort_add(long sorter, long[] keys, long n);

  public static native long samplesort_finish(long sorter);

  public static native long samplesort_next(long sorter, long[] out, long max);

  public static native long samplesort_spills(long sorter);

  public static native long samplesort_spilled_records(long sorter);

  public static native long samplesort_spill_requests(long sorter);

  public static native long samplesort_busy_spills(long sorter);

  public static native long samplesort_payload_errors(long sorter);

  public static native long samplesort_worker_chunks(long sorter);

  public static native long samplesort_last_error(long sorter, byte[] buf, long len);

  public static native void samplesort_destroy(long sorter);

  /** The sorter's last error text, "" when none. */
  public static String lastError(long sorter) {
    byte[] buf = new byte[1024];
    long length = samplesort_last_error(sorter, buf, buf.length);
    int n = (int) Math.min(Math.max(length, 0), buf.length - 1);
    return new String(buf, 0, n, StandardCharsets.UTF_8);
  }
}

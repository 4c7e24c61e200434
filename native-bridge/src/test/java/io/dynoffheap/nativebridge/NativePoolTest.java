package io.dynoffheap.nativebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * NativePool through JNA, with libdynoffheap_testops standing in for a native engine
 * that allocates through the pool (from JVM threads and from its own pthreads).
 */
class NativePoolTest {

    private static final long KiB = 1024;
    private static final long MiB = 1024 * KiB;
    private static final long HEADER = 16;
    private static final long MIN_BLOCK = NativePool.MIN_BLOCK_SIZE;

    @Test
    void allocatesFreesAndAccountsInBlocks() {
        CountingReservations jvm = new CountingReservations();
        try (NativePool pool = new NativePool(jvm, MiB)) {
            assertEquals(1, TestOps.testops_abi_ok(pool.handle()));
            long p = TestOps.testops_alloc(pool.handle(), 1000);
            assertNotEquals(0, p);
            assertEquals(1000 + HEADER, pool.used());
            assertEquals(MiB, pool.reserved());
            assertEquals(MiB, jvm.total.get());
            assertEquals(MiB, pool.jvmReservedBytes());
            assertEquals(1, jvm.reserveCalls.get());

            TestOps.testops_free(pool.handle(), p);
            assertEquals(0, pool.used());
            assertEquals(1000 + HEADER, pool.peak());
            assertEquals(MiB, pool.reserved()); // one block of slack stays
            assertEquals(MiB, pool.shrink());
            assertEquals(0, pool.reserved());
            assertEquals(0, jvm.total.get());
            assertEquals(0, pool.jvmReservedBytes());
            assertEquals("", pool.lastError());
            assertEquals(0, pool.closeAndReportLeaks());
        }
        assertEquals(0, jvm.badCalls.get());
    }

    /**
     * A native thread frees one pointer twice: without debug mode for an allocation with a
     * header (caught always), in debug mode for a sized one (which malloc itself would
     * abort on). The JVM survives, the pool's books stay exact, and the misuse reaches
     * Java with the call and the pool's name.
     */
    @Test
    void doubleFreeOnANativeThreadIsReportedNotACrash() {
        CountingReservations jvm = new CountingReservations();
        boolean debugBefore = NativeBridge.isDebug();
        try {
            NativeBridge.setDebug(false);
            try (NativePool pool = new NativePool(jvm, MiB, "task-3 (stage 0.0, partition 1)/codec")) {
                assertEquals(0, pool.misuses());
                assertEquals(0, TestOps.testops_double_free_on_thread(pool.handle(), 100, 0));
                assertEquals(1, pool.misuses());
                assertTrue(pool.firstMisuse().startsWith("free: "), pool.firstMisuse());
                assertTrue(pool.firstMisuse().contains("was already freed (double free)"),
                        pool.firstMisuse());
                assertTrue(pool.firstMisuse().endsWith(
                        "(pool 'task-3 (stage 0.0, partition 1)/codec')"), pool.firstMisuse());
                assertEquals(0, pool.used());
                assertEquals(0, pool.closeAndReportLeaks());
                assertEquals(1, pool.misuses()); // still known after close
            }
            NativeBridge.setDebug(true);
            try (NativePool pool = new NativePool(jvm, MiB, "sized")) {
                assertEquals(0, TestOps.testops_double_free_on_thread(pool.handle(), 64, 1));
                assertEquals(1, pool.misuses());
                assertTrue(pool.firstMisuse().startsWith("free_sized: "), pool.firstMisuse());
                assertTrue(pool.firstMisuse().contains("was already freed (double free): "
                        + "allocated at libdynoffheap_testops.so+0x"), pool.firstMisuse());
                assertTrue(pool.firstMisuse().contains(", first freed at "
                        + "libdynoffheap_testops.so+0x"), pool.firstMisuse());
                assertEquals(0, pool.used());
                long p = TestOps.testops_alloc_sized(pool.handle(), 500);
                TestOps.testops_free_sized(pool.handle(), p, 400); // wrong size: refused
                assertEquals(500, pool.used());
                assertEquals(2, pool.misuses());
                assertTrue(pool.lastError().contains("sized allocation of another size"),
                        pool.lastError());
                TestOps.testops_free_sized(pool.handle(), p, 500);
                assertEquals(0, pool.closeAndReportLeaks());
            }
        } finally {
            NativeBridge.setDebug(debugBefore);
        }
        assertEquals(0, jvm.total.get());
        assertEquals(0, jvm.badCalls.get());
    }

    /**
     * A pool in debug mode closed with live native allocations (one made on a JVM thread, one
     * on a pthread) reports the native function that made them; one not in debug mode does
     * not, and the memory can still be freed after close.
     */
    @Test
    void aDebugPoolsLeakReportNamesTheNativeAllocationSite() {
        CountingReservations jvm = new CountingReservations();
        boolean debugBefore = NativeBridge.isDebug();
        try {
            NativeBridge.setDebug(false);
            NativePool pool = new NativePool(jvm, MiB, "task-5/engine", true);
            long onJvmThread = TestOps.testops_alloc(pool.handle(), 1000);
            long onPthread = TestOps.testops_alloc_on_thread(pool.handle(), 3000);
            assertNotEquals(0, onJvmThread);
            assertNotEquals(0, onPthread);
            assertEquals("", pool.leakReport(), "no report before close");
            assertEquals(4000 + 2 * HEADER, pool.closeAndReportLeaks());
            String report = pool.leakReport();
            assertTrue(report.startsWith("2 live allocation(s) of 4032 bytes, by the site that "
                    + "allocated them (debug mode), largest first:\n"), report);
            assertTrue(report.contains("\n    4032 bytes in 2 allocation(s) at testops_alloc+0x"),
                    report);
            assertTrue(report.contains(" (libdynoffheap_testops.so)"), report);
            TestOps.testops_free(pool.handle(), onJvmThread);
            TestOps.testops_free(pool.handle(), onPthread);
            assertEquals(0, pool.used());

            NativePool plain = new NativePool(jvm, MiB, "task-5/plain");
            long kept = TestOps.testops_alloc(plain.handle(), 100);
            assertEquals(100 + HEADER, plain.closeAndReportLeaks());
            assertEquals("", plain.leakReport(), "not in debug mode: no sites");
            TestOps.testops_free(plain.handle(), kept);
        } finally {
            NativeBridge.setDebug(debugBefore);
        }
        assertEquals(0, jvm.total.get());
        assertEquals(0, jvm.badCalls.get());
    }

    /**
     * The probe's segfault: native threads still use a pool's handle after more than 4096
     * later pools were closed, when its memory holds another pool. The library recognises
     * the stale handle: every allocation is refused, and the pool now in that memory is
     * untouched.
     */
    @Test
    void nativeThreadsOnAPoolClosedThousandsOfClosesAgoAreRefused() {
        CountingReservations jvm = new CountingReservations();
        NativePool old = new NativePool(jvm, MiB);
        long stale = old.handle();
        assertEquals(0, old.closeAndReportLeaks());
        List<NativePool> open = new ArrayList<>();
        for (int i = 0; i < 4096 + 64; i++) {
            NativePool pool = new NativePool(jvm, MIN_BLOCK);
            open.add(pool);
            if (open.size() > 8) {
                open.remove(0).close();
            }
        }
        long before = jvm.reserveCalls.get();
        assertEquals(0, TestOps.testops_thread_storm(stale, 2, 100, 64, 0));
        assertEquals(-1, TestOps.testops_double_free_on_thread(stale, 100, 0));
        assertEquals(before, jvm.reserveCalls.get());
        for (NativePool pool : open) {
            assertEquals(0, pool.used());
            assertEquals(0, pool.misuses());
            assertEquals(0, pool.closeAndReportLeaks());
        }
        assertEquals(0, jvm.total.get());
        assertEquals(0, jvm.badCalls.get());
    }

    @Test
    void exhaustionDeniesWithTheJavaReason() {
        CountingReservations jvm = new CountingReservations(2 * MiB);
        try (NativePool pool = new NativePool(jvm, MiB)) {
            List<Long> pointers = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                long p = TestOps.testops_alloc(pool.handle(), 512 * KiB);
                if (p == 0) {
                    break;
                }
                pointers.add(p);
            }
            // 3 x (512 KiB + 16) fit in 2 MiB; the 4th needs a third block.
            assertEquals(3, pointers.size());
            String error = pool.lastError();
            assertTrue(error.contains("test budget of 2097152 bytes exhausted"), error);
            Throwable denial = pool.lastDenial();
            assertInstanceOf(IllegalStateException.class, denial);
            assertEquals(denial.getMessage(), error);
            assertEquals(1, pool.denials());

            // The denial rolled back: nothing more is used or reserved.
            assertEquals(3 * (512 * KiB + HEADER), pool.used());
            assertEquals(2 * MiB, pool.reserved());
            assertEquals(2 * MiB, jvm.total.get());

            assertSame(denial, pool.takeLastDenial());
            assertNull(pool.lastDenial());
            for (long p : pointers) {
                TestOps.testops_free(pool.handle(), p);
            }
            assertEquals(0, pool.closeAndReportLeaks());
        }
        assertEquals(0, jvm.total.get());
        assertEquals(0, jvm.badCalls.get());
    }

    @Test
    void anyThrowableFromReserveIsADenialNotACrash() {
        List<Throwable> throwables = List.of(
                new RuntimeException("boom-runtime"),
                new Error("boom-error"),
                new OutOfMemoryError("boom-oom"),
                new StackOverflowError("boom-stack"),
                new IOException("boom-checked"),
                new NullPointerException());
        for (Throwable thrown : throwables) {
            AtomicLong releases = new AtomicLong();
            PoolReservations throwing = new PoolReservations() {
                @Override
                public void reserve(long bytes) {
                    throwUnchecked(thrown);
                }

                @Override
                public void release(long bytes) {
                    releases.incrementAndGet();
                }
            };
            try (NativePool pool = new NativePool(throwing, 64 * KiB)) {
                assertEquals(0, TestOps.testops_alloc(pool.handle(), 100), thrown.toString());
                assertSame(thrown, pool.lastDenial());
                String expected = thrown.getMessage() != null ? thrown.getMessage()
                        : "java.lang.NullPointerException";
                assertTrue(pool.lastError().contains(expected), pool.lastError());
                assertEquals(0, pool.used());
                assertEquals(0, pool.reserved());
                assertNotEquals(0, TestOps.testops_reserve(pool.handle(), 100));
                assertEquals(2, pool.denials());
            }
            assertEquals(0, releases.get());
        }
    }

    @Test
    void explicitReserveAndReleaseFromNative() {
        CountingReservations jvm = new CountingReservations(MiB);
        try (NativePool pool = new NativePool(jvm, 64 * KiB)) {
            assertEquals(0, TestOps.testops_reserve(pool.handle(), 10_000));
            assertEquals(10_000, pool.used());
            assertEquals(64 * KiB, pool.reserved());
            assertNotEquals(0, TestOps.testops_reserve(pool.handle(), 2 * MiB));
            assertTrue(pool.lastError().contains("exhausted"), pool.lastError());
            assertEquals(10_000, pool.used());
            TestOps.testops_release(pool.handle(), 10_000);
            assertEquals(0, pool.used());
        }
        assertEquals(0, jvm.total.get());
    }

    @Test
    void thousandAllocationsFromNativeThreads() {
        CountingReservations jvm = new CountingReservations();
        try (NativePool pool = new NativePool(jvm, MiB)) {
            // 4 pthreads x 250 allocations of 64 KiB, all held until each thread's end:
            // the reservations happen on threads the JVM did not start.
            assertEquals(1000, TestOps.testops_thread_storm(pool.handle(), 4, 250, 64 * KiB, 1));
            assertEquals(0, pool.used());
            assertTrue(jvm.reserveCalls.get() >= 15, "reserve calls " + jvm.reserveCalls.get());
            assertEquals(Set.of(BridgeCallbacks.THREAD_NAME), jvm.callingThreads);
            assertEquals(Set.of(true), jvm.callingThreadDaemon);
            assertEquals(pool.reserved(), jvm.total.get());
            assertEquals(pool.reserved(), pool.jvmReservedBytes());

            // Short-lived allocations on native threads.
            assertEquals(10_000, TestOps.testops_thread_storm(pool.handle(), 4, 2500, 4 * KiB, 0));
            assertEquals(0, pool.used());

            pool.shrink();
            assertEquals(0, pool.reserved());
            assertEquals(0, jvm.total.get());
            assertEquals(0, pool.jvmReservedBytes());
            assertEquals(0, pool.closeAndReportLeaks());
        }
        assertEquals(0, jvm.badCalls.get());
    }

    @Test
    void nativeThreadsUnderABudgetAreDeniedCleanly() {
        CountingReservations jvm = new CountingReservations(8 * MiB);
        try (NativePool pool = new NativePool(jvm, MiB)) {
            long ok = TestOps.testops_thread_storm(pool.handle(), 4, 250, 64 * KiB, 1);
            assertTrue(ok > 0 && ok < 1000, "succeeded " + ok);
            assertTrue(pool.denials() > 0);
            assertTrue(pool.lastError().contains("exhausted"), pool.lastError());
            assertEquals(0, pool.used());
            assertTrue(jvm.total.get() <= 8 * MiB);
            assertEquals(pool.reserved(), jvm.total.get());
            assertEquals(0, pool.closeAndReportLeaks());
        }
        assertEquals(0, jvm.total.get());
        assertEquals(0, jvm.badCalls.get());
    }

    @Test
    void spillCallsTheNativeSpillFunctionAndReleasesBlocks() {
        CountingReservations jvm = new CountingReservations();
        long block = 256 * KiB;
        try (NativePool pool = new NativePool(jvm, block)) {
            assertEquals(40, TestOps.testops_stash_fill(pool.handle(), 40, 64 * KiB));
            long before = pool.reserved();
            assertEquals((40 * (64 * KiB + HEADER) + block - 1) / block * block, before);

            long released = pool.spill(500_000);
            assertEquals(1, TestOps.testops_stash_spill_calls());
            assertEquals(500_000, TestOps.testops_stash_last_wanted());
            assertEquals(40 - 8, TestOps.testops_stash_count()); // 8 x 64 KiB >= 500000
            assertTrue(released > 0);
            assertEquals(before - released, pool.reserved());
            assertTrue(pool.reserved() - pool.used() < block, "whole unused blocks remain");
            assertEquals(pool.reserved(), jvm.total.get());
            assertEquals(pool.reserved(), pool.jvmReservedBytes());

            TestOps.testops_stash_clear();
            assertEquals(0, pool.used());
            assertEquals(0, pool.spill(0));
        }
        assertEquals(0, jvm.total.get());
    }

    /**
     * Spark may spill the requesting consumer itself from inside the reservation (the
     * TaskMemoryManager's self-spill): spill() on the pool that is waiting for the grant,
     * on the same thread, with that pool's growth mutex held. It must not deadlock, and
     * the accounting must stay exact.
     */
    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void selfSpillFromInsideReserveDoesNotDeadlock() {
        CountingReservations budget = new CountingReservations(MiB);
        NativePool[] self = new NativePool[1];
        AtomicLong selfSpills = new AtomicLong();
        PoolReservations selfSpilling = new PoolReservations() {
            @Override
            public void reserve(long bytes) {
                try {
                    budget.reserve(bytes);
                } catch (IllegalStateException shortOfMemory) {
                    selfSpills.incrementAndGet();
                    self[0].spill(bytes); // re-enters the pool from inside its callback
                    budget.reserve(bytes);
                }
            }

            @Override
            public void release(long bytes) {
                budget.release(bytes);
            }
        };
        long block = 256 * KiB;
        try (NativePool pool = new NativePool(selfSpilling, block)) {
            self[0] = pool;
            assertEquals(40, TestOps.testops_stash_fill(pool.handle(), 40, 16 * KiB));
            assertEquals(3 * block, budget.total.get());

            long big = TestOps.testops_alloc(pool.handle(), 512 * KiB); // over the budget
            assertNotEquals(0, big, pool.lastError());
            assertTrue(selfSpills.get() >= 1);
            assertEquals(1, TestOps.testops_stash_spill_calls());
            assertEquals(pool.reserved(), budget.total.get());
            assertEquals(pool.reserved(), pool.jvmReservedBytes());
            assertTrue(budget.total.get() <= MiB);

            TestOps.testops_free(pool.handle(), big);
            TestOps.testops_stash_clear();
            assertEquals(0, pool.closeAndReportLeaks());
        }
        assertEquals(0, budget.total.get());
        assertEquals(0, budget.badCalls.get());
    }

    @Test
    void closeReportsLeaksAndRefusesLaterAllocations() {
        CountingReservations jvm = new CountingReservations();
        NativePool pool = new NativePool(jvm, 64 * KiB);
        long h = pool.handle();
        long a = TestOps.testops_alloc(h, 1000);
        long b = TestOps.testops_alloc(h, 2000);
        long c = TestOps.testops_alloc(h, 3000);
        TestOps.testops_free(h, b);
        long leaked = (1000 + HEADER) + (3000 + HEADER);

        assertEquals(leaked, pool.closeAndReportLeaks());
        assertTrue(pool.isClosed());
        assertEquals(0, jvm.total.get());
        assertEquals(0, pool.jvmReservedBytes());
        assertEquals(0, pool.reserved());
        assertEquals(leaked, pool.used());
        long releases = jvm.releaseCalls.get();

        assertEquals(0, TestOps.testops_alloc(h, 10));
        assertTrue(pool.lastError().contains("pool closed"), pool.lastError());
        assertNotEquals(0, TestOps.testops_reserve(h, 10));

        // Late frees work and call nobody.
        TestOps.testops_free(h, a);
        TestOps.testops_free(h, c);
        assertEquals(0, pool.used());
        assertEquals(releases, jvm.releaseCalls.get());
        assertEquals(0, pool.shrink());
        assertEquals(0, pool.spill(1000));
        assertEquals(leaked, pool.closeAndReportLeaks()); // idempotent
        pool.close();
        assertEquals(0, jvm.badCalls.get());
    }

    @Test
    void failingReleaseIsCountedNotPropagated() {
        AtomicLong granted = new AtomicLong();
        PoolReservations failingRelease = new PoolReservations() {
            @Override
            public void reserve(long bytes) {
                granted.addAndGet(bytes);
            }

            @Override
            public void release(long bytes) {
                throw new IllegalStateException("release refused");
            }
        };
        try (NativePool pool = new NativePool(failingRelease, 64 * KiB)) {
            long big = TestOps.testops_alloc(pool.handle(), 200 * KiB); // 4 blocks
            assertNotEquals(0, big);
            assertEquals(4 * 64 * KiB, granted.get());
            TestOps.testops_free(pool.handle(), big); // releases 3 blocks: throws in Java
            assertEquals(1, pool.releaseFailures());
            assertEquals(64 * KiB, pool.reserved());
            assertEquals(64 * KiB, pool.jvmReservedBytes());
            assertEquals(0, pool.closeAndReportLeaks()); // releases the last block: throws
            assertEquals(2, pool.releaseFailures());
            assertEquals(0, pool.jvmReservedBytes());
        }
    }

    @Test
    void poolsAreIndependentAndUnregisterOnClose() {
        int before = BridgeCallbacks.registeredPools();
        CountingReservations jvm1 = new CountingReservations();
        CountingReservations jvm2 = new CountingReservations();
        try (NativePool p1 = new NativePool(jvm1, 64 * KiB);
                NativePool p2 = new NativePool(jvm2, 128 * KiB)) {
            assertNotEquals(p1.id(), p2.id());
            assertEquals(before + 2, BridgeCallbacks.registeredPools());
            long x = TestOps.testops_alloc(p1.handle(), 100);
            long y = TestOps.testops_alloc(p2.handle(), 100);
            assertEquals(64 * KiB, jvm1.total.get());
            assertEquals(128 * KiB, jvm2.total.get());
            TestOps.testops_free(p2.handle(), x); // foreign pointer: refused, nothing freed
            assertTrue(p2.lastError().contains("is not a live allocation of this pool"), p2.lastError());
            assertEquals(1, p2.misuses());
            assertEquals(100 + HEADER, p1.used());
            TestOps.testops_free(p1.handle(), x);
            TestOps.testops_free(p2.handle(), y);
        }
        assertEquals(before, BridgeCallbacks.registeredPools());
        assertEquals(0, jvm1.total.get());
        assertEquals(0, jvm2.total.get());
    }

    @Test
    void rejectsBadBlockSizes() {
        CountingReservations jvm = new CountingReservations();
        assertThrows(IllegalArgumentException.class, () -> new NativePool(jvm, 0));
        assertThrows(IllegalArgumentException.class, () -> new NativePool(jvm, 4095));
        assertThrows(IllegalArgumentException.class, () -> new NativePool(jvm, (1L << 40) + 1));
        assertThrows(NullPointerException.class, () -> new NativePool(null));
        try (NativePool pool = new NativePool(jvm)) {
            assertEquals(NativePool.DEFAULT_BLOCK_SIZE, pool.blockSize());
            assertFalse(pool.isClosed());
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void throwUnchecked(Throwable t) throws T {
        throw (T) t;
    }
}

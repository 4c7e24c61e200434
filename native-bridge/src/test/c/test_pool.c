/*
 * test_pool.c - tests of libdynoffheap through its public header (as a native library
 * would use it) and its bridge API (as the Java side does), against the fake JVM.
 *
 * Built twice by the Makefile: as a release build, and as a build with AddressSanitizer
 * and UndefinedBehaviorSanitizer whose pools run in debug mode by default
 * (-DDYNOFFHEAP_DEBUG). Tests of misuse switch debug mode on or off for the pools they
 * create, so both builds run both.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dynoffheap.h"
#include "dynoffheap_bridge.h"
#include "testkit.h"

#define KiB ((int64_t)1024)
#define MiB (1024 * KiB)

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

static dynoffheap_pool *pool_at(int64_t handle)
{
    return dynoffheap_pool_from_handle(handle);
}

static int error_contains(dynoffheap_pool *p, const char *needle)
{
    char buf[DYNOFFHEAP_ERROR_MAX];
    dynoffheap_last_error(p, buf, sizeof buf);
    if (strstr(buf, needle) != NULL)
        return 1;
    fprintf(stderr, "    error text \"%s\" lacks \"%s\"\n", buf, needle);
    return 0;
}

static size_t error_length(dynoffheap_pool *p)
{
    return dynoffheap_last_error(p, NULL, 0);
}

/* Pools created from now on run in debug mode `on`; returns the mode before. */
static int debug_mode(int on)
{
    int was = dynoffheap_bridge_debug();
    dynoffheap_bridge_set_debug(on);
    return was;
}

/* The misuse count of a pool; the first misuse's text must contain `needle`. */
static int64_t misuses(int64_t handle, const char *needle)
{
    char first[DYNOFFHEAP_ERROR_MAX];
    int64_t n = dynoffheap_bridge_pool_misuses(handle, first, sizeof first);
    if (needle != NULL && strstr(first, needle) == NULL) {
        fprintf(stderr, "    first misuse \"%s\" lacks \"%s\"\n", first, needle);
        tk_current_failures++;
    }
    return n;
}

/* The JVM side's total equals `reserved`, which is a whole number of blocks and covers
 * `used`; the fake JVM saw no malformed call. */
static void check_accounting(int64_t id, int64_t handle, int64_t block)
{
    int64_t reserved = dynoffheap_bridge_pool_reserved(handle);
    CHECK_EQ(reserved % block, 0);
    CHECK_EQ(fj_total(id), reserved);
    CHECK(dynoffheap_bridge_pool_used(handle) <= reserved);
    CHECK_EQ(atomic_load(&fj.bad_calls), 0);
}

/* A small deterministic random generator (xorshift64*). */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ------------------------------------------------------------------------------------ */
/* Single-thread basics                                                                 */
/* ------------------------------------------------------------------------------------ */

static void test_abi_and_wrappers_on_null(void)
{
    fj_reset();
    CHECK_EQ(dynoffheap_bridge_abi_version(), DYNOFFHEAP_ABI_VERSION);
    int64_t h = fj_pool(1, MiB);
    CHECK(dynoffheap_abi_compatible(pool_at(h)));
    CHECK_EQ(pool_at(h)->ops->ops_size, sizeof(struct dynoffheap_pool_ops));

    /* The inline wrappers tolerate a NULL pool; the bridge tolerates handle 0. */
    char buf[8] = "x";
    CHECK(dynoffheap_pool_from_handle(0) == NULL);
    CHECK(!dynoffheap_abi_compatible(NULL));
    CHECK(dynoffheap_alloc(NULL, 10) == NULL);
    CHECK(dynoffheap_alloc_sized(NULL, 10) == NULL);
    CHECK(dynoffheap_alloc_sized_aligned(NULL, 64, 10) == NULL);
    CHECK(dynoffheap_reserve(NULL, 10) != 0);
    CHECK_EQ(dynoffheap_used(NULL), 0);
    char text[DYNOFFHEAP_ERROR_MAX];
    CHECK(dynoffheap_last_error(NULL, buf, sizeof buf) > sizeof buf);
    CHECK(strlen(buf) == sizeof buf - 1); /* cut to fit, NUL-terminated */
    dynoffheap_last_error(NULL, text, sizeof text);
    CHECK(strstr(text, "pool is NULL") != NULL);
    dynoffheap_free(NULL, buf); /* must not touch buf */
    dynoffheap_free_sized(NULL, buf, sizeof buf);
    CHECK_EQ(dynoffheap_bridge_pool_used(0), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(0), 0);
    CHECK_EQ(dynoffheap_bridge_pool_spill(0, 100), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_create_rejects_bad_block_sizes(void)
{
    fj_reset();
    CHECK_EQ(dynoffheap_bridge_pool_create(1, 0), 0);
    CHECK_EQ(dynoffheap_bridge_pool_create(1, -8 * MiB), 0);
    CHECK_EQ(dynoffheap_bridge_pool_create(1, DYNOFFHEAP_MIN_BLOCK_SIZE - 1), 0);
    CHECK_EQ(dynoffheap_bridge_pool_create(1, DYNOFFHEAP_MAX_BLOCK_SIZE + 1), 0);
    int64_t h = dynoffheap_bridge_pool_create(1, DYNOFFHEAP_MIN_BLOCK_SIZE);
    CHECK(h != 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_alloc_free_single(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    char *a = dynoffheap_alloc(p, 100);
    CHECK(a != NULL);
    CHECK(((uintptr_t)a & 15) == 0);
    memset(a, 0xab, 100);
    CHECK_EQ(dynoffheap_used(p), 100 + 16); /* payload + header */
    CHECK_EQ(dynoffheap_reserved(p), MiB);
    CHECK_EQ(atomic_load(&fj.reserve_calls), 1);
    check_accounting(1, h, MiB);

    dynoffheap_free(p, a);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_reserved(p), MiB); /* one block of slack stays */
    CHECK_EQ(dynoffheap_peak(p), 116);
    CHECK_EQ(atomic_load(&fj.release_calls), 0);
    CHECK_EQ(error_length(p), 0);

    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(1), 0);
    CHECK_EQ(atomic_load(&fj.release_calls), 1);
}

static void test_peak_is_exact_single_thread(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *a = dynoffheap_alloc(p, 100);
    void *b = dynoffheap_alloc(p, 200);
    void *c = dynoffheap_alloc(p, 50);
    CHECK_EQ(dynoffheap_peak(p), 116 + 216 + 66);
    dynoffheap_free(p, b);
    void *d = dynoffheap_alloc(p, 10);
    CHECK_EQ(dynoffheap_used(p), 116 + 66 + 26);
    CHECK_EQ(dynoffheap_peak(p), 116 + 216 + 66);
    void *e = dynoffheap_alloc(p, 1000);
    CHECK_EQ(dynoffheap_peak(p), 116 + 66 + 26 + 1016);
    /* A peak reached and left between two reads is still seen (fast path). */
    void *f = dynoffheap_alloc(p, 5000);
    dynoffheap_free(p, f);
    CHECK_EQ(dynoffheap_peak(p), 116 + 66 + 26 + 1016 + 5016);
    dynoffheap_free(p, a);
    dynoffheap_free(p, c);
    dynoffheap_free(p, d);
    dynoffheap_free(p, e);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_aligned_allocations(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    const size_t alignments[] = {1, 2, 4, 8, 16, 32, 64, 128, 4096, 65536, 1 << 20,
                                 DYNOFFHEAP_MAX_ALIGNMENT};
    for (size_t i = 0; i < sizeof alignments / sizeof alignments[0]; i++) {
        size_t align = alignments[i];
        size_t effective = align < 16 ? 16 : align;
        char *x = dynoffheap_alloc_aligned(p, align, 1000);
        CHECK(x != NULL);
        if (x == NULL)
            continue;
        CHECK(((uintptr_t)x & (effective - 1)) == 0);
        memset(x, 0x5a, 1000);
        CHECK_EQ(dynoffheap_used(p), 1000 + (int64_t)effective);
        check_accounting(1, h, MiB);
        dynoffheap_free(p, x);
        CHECK_EQ(dynoffheap_used(p), 0);
    }
    CHECK_EQ(error_length(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_bad_alignment(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    const size_t bad[] = {0, 3, 24, 48, 1000, DYNOFFHEAP_MAX_ALIGNMENT * 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(dynoffheap_alloc_aligned(p, bad[i], 64) == NULL);
        CHECK(error_contains(p, "alignment"));
    }
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(atomic_load(&fj.reserve_calls), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_zero_and_overflowing_sizes(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);

    CHECK(dynoffheap_alloc(p, 0) == NULL);
    CHECK(error_contains(p, "size 0"));
    CHECK(dynoffheap_alloc_aligned(p, 64, 0) == NULL);
    CHECK(error_contains(p, "size 0"));

    /* Sizes whose header, alignment or block rounding would overflow: no JVM call. */
    const size_t huge[] = {SIZE_MAX,
                           SIZE_MAX - 1,
                           SIZE_MAX - 15,
                           SIZE_MAX - 16,
                           (size_t)INT64_MAX + 1,
                           (size_t)INT64_MAX,
                           (size_t)INT64_MAX - 15,
                           (size_t)INT64_MAX - 16, /* total INT64_MAX: block rounding */
                           (size_t)INT64_MAX - MiB};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        CHECK(dynoffheap_alloc(p, huge[i]) == NULL);
        CHECK(error_contains(p, "is above the largest size"));
        CHECK(dynoffheap_alloc_aligned(p, 4096, huge[i]) == NULL);
        CHECK(error_contains(p, "is above the largest size"));
    }
    CHECK(dynoffheap_alloc_aligned(p, 4096, (size_t)INT64_MAX - 4000) == NULL);
    CHECK(error_contains(p, "is above the largest size"));
    CHECK_EQ(atomic_load(&fj.reserve_calls), 0);

    /* realloc to a huge size fails and keeps the old block. */
    char *a = dynoffheap_alloc(p, 32);
    CHECK(a != NULL);
    memset(a, 7, 32);
    CHECK(dynoffheap_realloc(p, a, SIZE_MAX) == NULL);
    CHECK(error_contains(p, "is above the largest size"));
    CHECK(a[31] == 7);
    CHECK_EQ(dynoffheap_used(p), 48);

    /* Big but representable: the JVM is asked and says no. */
    atomic_store(&fj.budget, 64 * MiB);
    int64_t calls = atomic_load(&fj.reserve_calls);
    CHECK(dynoffheap_alloc(p, (size_t)1 << 62) == NULL);
    CHECK(error_contains(p, "denied"));
    CHECK_EQ(atomic_load(&fj.reserve_calls), calls + 1);
    CHECK_EQ(dynoffheap_used(p), 48);
    check_accounting(1, h, MiB);

    dynoffheap_free(p, a);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_realloc(void)
{
    fj_reset();
    int64_t h = fj_pool(1, 64 * KiB);
    dynoffheap_pool *p = pool_at(h);

    unsigned char *a = dynoffheap_realloc(p, NULL, 100); /* = alloc */
    CHECK(a != NULL);
    for (int i = 0; i < 100; i++)
        a[i] = (unsigned char)i;
    CHECK_EQ(dynoffheap_used(p), 116);

    unsigned char *b = dynoffheap_realloc(p, a, 10000); /* grow, contents kept */
    CHECK(b != NULL);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= b[i] == (unsigned char)i;
    CHECK(same);
    CHECK_EQ(dynoffheap_used(p), 10016);
    memset(b + 100, 1, 9900);

    unsigned char *c = dynoffheap_realloc(p, b, 50); /* shrink */
    CHECK(c != NULL);
    same = 1;
    for (int i = 0; i < 50; i++)
        same &= c[i] == (unsigned char)i;
    CHECK(same);
    CHECK_EQ(dynoffheap_used(p), 66);

    CHECK(dynoffheap_realloc(p, c, 0) == NULL); /* = free, not an error */
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(error_length(p), 0);

    /* Over-aligned blocks keep their alignment and contents. */
    unsigned char *x = dynoffheap_alloc_aligned(p, 256, 300);
    CHECK(x != NULL);
    for (int i = 0; i < 300; i++)
        x[i] = (unsigned char)(i * 3);
    unsigned char *y = dynoffheap_realloc(p, x, 5000);
    CHECK(y != NULL);
    CHECK(((uintptr_t)y & 255) == 0);
    same = 1;
    for (int i = 0; i < 300; i++)
        same &= y[i] == (unsigned char)(i * 3);
    CHECK(same);
    CHECK_EQ(dynoffheap_used(p), 5000 + 256);
    unsigned char *z = dynoffheap_realloc(p, y, 100);
    CHECK(z != NULL);
    CHECK(((uintptr_t)z & 255) == 0);
    CHECK(z[99] == (unsigned char)(99 * 3));
    CHECK_EQ(dynoffheap_used(p), 100 + 256);
    dynoffheap_free(p, z);
    CHECK_EQ(dynoffheap_used(p), 0);
    check_accounting(1, h, 64 * KiB);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_realloc_denied_keeps_old_block(void)
{
    fj_reset();
    atomic_store(&fj.budget, 64 * KiB);
    int64_t h = fj_pool(1, 64 * KiB);
    dynoffheap_pool *p = pool_at(h);
    char *a = dynoffheap_alloc(p, 1000);
    CHECK(a != NULL);
    memset(a, 0x11, 1000);
    CHECK(dynoffheap_realloc(p, a, 200 * KiB) == NULL);
    CHECK(error_contains(p, "denied"));
    CHECK(a[0] == 0x11 && a[999] == 0x11);
    CHECK_EQ(dynoffheap_used(p), 1016);
    CHECK_EQ(dynoffheap_reserved(p), 64 * KiB);
    check_accounting(1, h, 64 * KiB);

    char *aligned = dynoffheap_alloc_aligned(p, 1024, 100);
    CHECK(aligned != NULL);
    CHECK(dynoffheap_realloc(p, aligned, 100 * KiB) == NULL);
    CHECK_EQ(dynoffheap_used(p), 1016 + 1124);
    dynoffheap_free(p, aligned);
    dynoffheap_free(p, a);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_free_null_is_noop(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    dynoffheap_free(p, NULL);
    CHECK_EQ(error_length(p), 0);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_double_free_detected_in_debug_mode(void)
{
    fj_reset();
    int was = debug_mode(1);
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *a = dynoffheap_alloc(p, 100);
    void *keep = dynoffheap_alloc(p, 50);
    dynoffheap_free(p, a);
    int64_t used = dynoffheap_used(p);
    int64_t releases = atomic_load(&fj.release_calls);
    dynoffheap_free(p, a);
    CHECK(error_contains(p, "was already freed (double free): allocated at "));
    CHECK_EQ(dynoffheap_used(p), used);
    CHECK_EQ(atomic_load(&fj.release_calls), releases);
    CHECK(dynoffheap_realloc(p, a, 10) == NULL);
    CHECK(error_contains(p, "realloc: "));
    CHECK(error_contains(p, "was already freed (double free)"));
    CHECK_EQ(dynoffheap_used(p), used);
    dynoffheap_free(p, keep);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(misuses(h, "free: "), 2);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    debug_mode(was);
}

/*
 * Without debug mode: what the header's live mark and the word in front of a sized
 * allocation tell (see "What misuse is caught" in dynoffheap.h). Each misuse is refused,
 * counted, and named with the call and the pool's name; nothing is freed. Run on a thread
 * of its own, as a native engine's worker would.
 */
static void *misuse_caught_always(void *arg)
{
    (void)arg;
    int64_t h = fj_pool(1, MiB);
    dynoffheap_bridge_pool_set_name(h, "task-7 (stage 1.0, partition 2)/codec");
    dynoffheap_pool *p = pool_at(h);
    char *hd = dynoffheap_alloc(p, 64);
    char *s = dynoffheap_alloc_sized(p, 64);
    char *gone = dynoffheap_alloc(p, 40);
    CHECK(hd != NULL && s != NULL && gone != NULL);
    dynoffheap_free(p, gone);
    int64_t used = dynoffheap_used(p);
    CHECK_EQ(used, 80 + 64);
    CHECK_EQ(misuses(h, ""), 0);

    dynoffheap_free(p, gone); /* double free */
    CHECK(error_contains(p, "free: "));
    CHECK(error_contains(p, "was already freed (double free)"));
    CHECK(error_contains(p, "(pool 'task-7 (stage 1.0, partition 2)/codec')"));
    CHECK(dynoffheap_realloc(p, gone, 10) == NULL);
    CHECK(error_contains(p, "realloc: "));
    CHECK(error_contains(p, "double free"));
    dynoffheap_free_sized(p, hd, 64); /* an allocation with a header, freed as sized */
    CHECK(error_contains(p, "free_sized: "));
    CHECK(error_contains(p, "came from dynoffheap_alloc"));
    dynoffheap_free(p, s); /* a sized allocation, freed as one with a header */
    CHECK(error_contains(p, "is not a live allocation of this pool"));
    dynoffheap_release(p, 1); /* nothing was reserved */
    CHECK(error_contains(p, "release: bytes 1 is more than the 0 bytes"));
    CHECK_EQ(dynoffheap_used(p), used);
    CHECK_EQ(misuses(h, "free: "), 5);
    CHECK_EQ(misuses(h, "double free"), 5);
    CHECK_EQ(misuses(h, "task-7 (stage 1.0, partition 2)/codec"), 5);

    memset(hd, 1, 64); /* both still live */
    memset(s, 2, 64);
    dynoffheap_free(p, hd);
    dynoffheap_free_sized(p, s, 64);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(misuses(h, NULL), 5);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    return NULL;
}

/* Without debug mode, sized allocations of DYNOFFHEAP_TRACKED_SIZE and more are checked
 * at their free all the same: the probe's double free and wrong size, for large blocks. */
static void test_large_sized_misuse_caught_always(void)
{
    fj_reset();
    int was = debug_mode(0);
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    size_t big = DYNOFFHEAP_TRACKED_SIZE * 2;
    char *a = dynoffheap_alloc_sized(p, big);
    char *b = dynoffheap_alloc_sized(p, big + 4096);
    char *small = dynoffheap_alloc_sized(p, 64);
    CHECK(a != NULL && b != NULL && small != NULL);
    dynoffheap_free_sized(p, a, big);
    int64_t used = dynoffheap_used(p);
    CHECK_EQ(used, (int64_t)big + 4096 + 64);

    dynoffheap_free_sized(p, a, big); /* double free: glibc would abort */
    CHECK(error_contains(p, "free_sized: "));
    CHECK(error_contains(p, "is not a live allocation of this pool"));
    dynoffheap_free_sized(p, b, big); /* wrong size */
    CHECK(error_contains(p, "sized allocation of another size"));
    dynoffheap_free_sized(p, small, big); /* a small one freed with a large size */
    CHECK(error_contains(p, "a size other than the one it was allocated with"));
    CHECK_EQ(dynoffheap_used(p), used);
    CHECK_EQ(misuses(h, "free_sized: "), 3);

    memset(b, 1, big + 4096); /* still live */
    dynoffheap_free_sized(p, b, big + 4096);
    dynoffheap_free_sized(p, small, 64);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(misuses(h, NULL), 3);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    debug_mode(was);
}

static void test_misuse_caught_always(void)
{
    fj_reset();
    int was = debug_mode(0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, misuse_caught_always, NULL) == 0);
    pthread_join(t, NULL);
    debug_mode(was);
}

static void test_foreign_pointers_detected(void)
{
    fj_reset();
    int64_t h1 = fj_pool(1, MiB), h2 = fj_pool(2, MiB);
    dynoffheap_pool *p1 = pool_at(h1), *p2 = pool_at(h2);
    char *a = dynoffheap_alloc(p1, 64);
    CHECK(a != NULL);
    memset(a, 3, 64);

    /* Another pool's pointer. */
    dynoffheap_free(p2, a);
    CHECK(error_contains(p2, "not"));
    CHECK_EQ(dynoffheap_used(p1), 80);
    CHECK_EQ(dynoffheap_used(p2), 0);
    CHECK(a[63] == 3); /* still live */

    /* Memory that never came from a pool (its "header" bytes are readable zeros). */
    static alignas(16) char static_buf[64];
    char *heap_buf = calloc(1, 64);
    CHECK(heap_buf != NULL);
    dynoffheap_free(p1, static_buf + 16);
    CHECK(error_contains(p1, "not"));
    dynoffheap_free(p1, heap_buf + 16);
    CHECK(error_contains(p1, "not"));
    dynoffheap_free(p1, static_buf + 17); /* misaligned */
    CHECK(error_contains(p1, "not allocated by this pool"));
    CHECK(dynoffheap_realloc(p1, heap_buf + 32, 100) == NULL);
    CHECK(error_contains(p1, "not"));
    CHECK_EQ(dynoffheap_used(p1), 80);
    free(heap_buf);

    dynoffheap_free(p1, a);
    CHECK_EQ(dynoffheap_used(p1), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h1), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h2), 0);
}

static void test_error_text_api(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    dynoffheap_bridge_pool_set_error(h, "abcdefghij");
    char small[5] = "zzzz";
    CHECK_EQ(dynoffheap_last_error(p, small, sizeof small), 10);
    CHECK(strcmp(small, "abcd") == 0);
    CHECK_EQ(dynoffheap_last_error(p, NULL, 0), 10);
    char one[1] = {'q'};
    CHECK_EQ(dynoffheap_last_error(p, one, 1), 10);
    CHECK(one[0] == '\0');
    char jbuf[64];
    CHECK_EQ(dynoffheap_bridge_pool_last_error(h, jbuf, sizeof jbuf), 10);
    CHECK(strcmp(jbuf, "abcdefghij") == 0);

    char longtext[2000];
    memset(longtext, 'L', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    dynoffheap_bridge_pool_set_error(h, longtext);
    CHECK_EQ(dynoffheap_last_error(p, NULL, 0), DYNOFFHEAP_ERROR_MAX - 1);
    dynoffheap_bridge_pool_set_error(h, NULL);
    CHECK_EQ(dynoffheap_last_error(p, NULL, 0), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Block accounting                                                                     */
/* ------------------------------------------------------------------------------------ */

static void test_large_allocation_reserves_rounded_blocks(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    void *big = dynoffheap_alloc(p, 200 * KiB); /* 204816 bytes charged: 4 blocks */
    CHECK(big != NULL);
    CHECK_EQ(atomic_load(&fj.reserve_calls), 1);
    CHECK_EQ(dynoffheap_reserved(p), 4 * block);
    check_accounting(1, h, block);
    dynoffheap_free(p, big); /* 4 unused blocks: release down to one */
    CHECK_EQ(atomic_load(&fj.release_calls), 1);
    CHECK_EQ(dynoffheap_reserved(p), block);
    check_accounting(1, h, block);
    CHECK_EQ(dynoffheap_bridge_pool_shrink(h), block);
    CHECK_EQ(dynoffheap_reserved(p), 0);
    CHECK_EQ(fj_total(1), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* Random single-thread workload with an exact model of `used`. */
static void test_block_accounting_exact(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    enum { SLOTS = 100, OPS = 5000 };
    void *ptrs[SLOTS] = {0};
    int64_t charged[SLOTS] = {0};
    int64_t model_used = 0, model_peak = 0;
    uint64_t rng = 12345;
    int accounting_ok = 1;

    for (int op = 0; op < OPS; op++) {
        int slot = (int)(next_random(&rng) % SLOTS);
        if (ptrs[slot] != NULL) {
            dynoffheap_free(p, ptrs[slot]);
            ptrs[slot] = NULL;
            model_used -= charged[slot];
        } else {
            uint64_t r = next_random(&rng);
            size_t size = r % 16 == 0 ? (size_t)(100 * KiB + (int64_t)(r >> 8) % (200 * KiB))
                                      : (size_t)(1 + (r >> 8) % 20000);
            size_t align = r % 7 == 0 ? 64 : 16;
            ptrs[slot] = dynoffheap_alloc_aligned(p, align, size);
            CHECK(ptrs[slot] != NULL);
            charged[slot] = (int64_t)size + (align > 16 ? (int64_t)align : 16);
            model_used += charged[slot];
            if (model_used > model_peak)
                model_peak = model_used;
        }
        int64_t reserved = dynoffheap_reserved(p);
        accounting_ok &= dynoffheap_used(p) == model_used;
        accounting_ok &= reserved % block == 0;
        accounting_ok &= fj_total(1) == reserved;
        accounting_ok &= model_used <= reserved;
    }
    CHECK(accounting_ok);
    CHECK_EQ(dynoffheap_peak(p), model_peak);
    for (int i = 0; i < SLOTS; i++)
        dynoffheap_free(p, ptrs[i]);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK(dynoffheap_reserved(p) <= 2 * block);
    check_accounting(1, h, block);
    dynoffheap_bridge_pool_shrink(h);
    CHECK_EQ(dynoffheap_reserved(p), 0);
    CHECK_EQ(fj_total(1), 0);
    CHECK_EQ(atomic_load(&fj.bad_calls), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* Alloc/free cycles that cross a block boundary must not call the JVM each time. */
static void test_hysteresis_limits_callbacks(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    void *base = dynoffheap_alloc(p, 60 * KiB); /* most of block 1 */
    CHECK(base != NULL);
    for (int i = 0; i < 10000; i++) {
        void *x = dynoffheap_alloc(p, 40 * KiB); /* needs block 2 */
        CHECK(x != NULL);
        dynoffheap_free(p, x);
        void *y = dynoffheap_alloc(p, 1 * KiB);
        dynoffheap_free(p, y);
    }
    CHECK_EQ(atomic_load(&fj.reserve_calls), 2);
    CHECK_EQ(atomic_load(&fj.release_calls), 0);

    /* Swings of five blocks: at most one reservation and one release per swing. */
    for (int i = 0; i < 100; i++) {
        void *x = dynoffheap_alloc(p, (size_t)(5 * block));
        CHECK(x != NULL);
        dynoffheap_free(p, x);
    }
    int64_t callbacks = atomic_load(&fj.reserve_calls) + atomic_load(&fj.release_calls);
    CHECK(callbacks <= 2 + 2 * 100);
    check_accounting(1, h, block);
    dynoffheap_free(p, base);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(1), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Denials                                                                              */
/* ------------------------------------------------------------------------------------ */

static void test_denial_rolls_back(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    atomic_store(&fj.budget, 2 * block);
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    void *a = dynoffheap_alloc(p, 100 * KiB); /* 2 blocks */
    CHECK(a != NULL);
    CHECK_EQ(dynoffheap_reserved(p), 2 * block);
    int64_t used = dynoffheap_used(p);
    int64_t peak = dynoffheap_peak(p);

    CHECK(dynoffheap_alloc(p, 50 * KiB) == NULL); /* needs a third block */
    CHECK(error_contains(p, "denied"));
    CHECK(error_contains(p, "51200"));
    CHECK(error_contains(p, "used 102416"));
    CHECK(error_contains(p, "reserved 131072"));
    CHECK_EQ(dynoffheap_used(p), used);
    CHECK_EQ(dynoffheap_peak(p), peak);
    CHECK_EQ(dynoffheap_reserved(p), 2 * block);
    CHECK_EQ(atomic_load(&fj.denials), 1);
    check_accounting(1, h, block);

    /* The JVM side's own reason replaces the pool's text. */
    atomic_store(&fj.deny_reason, "executor quota exceeded: 1 GiB budget");
    CHECK(dynoffheap_alloc(p, 50 * KiB) == NULL);
    char buf[DYNOFFHEAP_ERROR_MAX];
    dynoffheap_last_error(p, buf, sizeof buf);
    CHECK(strcmp(buf, "executor quota exceeded: 1 GiB budget") == 0);
    CHECK_EQ(dynoffheap_used(p), used);

    /* Small allocations still fit in the reserved headroom. */
    void *small = dynoffheap_alloc(p, 1000);
    CHECK(small != NULL);
    dynoffheap_free(p, small);
    dynoffheap_free(p, a);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(1), 0);
}

static void test_no_callbacks_means_denied(void)
{
    fj_reset();
    dynoffheap_bridge_set_callbacks(NULL, NULL);
    int64_t h = dynoffheap_bridge_pool_create(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    CHECK(dynoffheap_alloc(p, 10) == NULL);
    CHECK(error_contains(p, "no JVM callbacks"));
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_reserved(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    fj_reset();
}

static void test_explicit_reserve_release(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    CHECK_EQ(dynoffheap_reserve(p, 10000), 0);
    CHECK_EQ(dynoffheap_used(p), 10000);
    CHECK_EQ(dynoffheap_reserved(p), block);
    CHECK_EQ(dynoffheap_reserve(p, 0), 0);
    dynoffheap_release(p, 4000);
    CHECK_EQ(dynoffheap_used(p), 6000);
    dynoffheap_release(p, 7000); /* more than reserved that way */
    CHECK(error_contains(p, "more than"));
    CHECK_EQ(dynoffheap_used(p), 6000);
    CHECK(dynoffheap_reserve(p, -5) != 0);
    CHECK(error_contains(p, "negative"));
    dynoffheap_release(p, -5);
    CHECK(error_contains(p, "negative"));

    CHECK_EQ(dynoffheap_reserve(p, 3 * block), 0); /* larger than a block */
    CHECK_EQ(dynoffheap_used(p), 6000 + 3 * block);
    check_accounting(1, h, block);
    atomic_store(&fj.budget, fj_total(1));
    CHECK(dynoffheap_reserve(p, 2 * block) != 0);
    CHECK(error_contains(p, "denied"));
    CHECK_EQ(dynoffheap_used(p), 6000 + 3 * block);
    dynoffheap_release(p, 3 * block + 6000);
    CHECK_EQ(dynoffheap_used(p), 0);
    check_accounting(1, h, block);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Spill                                                                                */
/* ------------------------------------------------------------------------------------ */

struct stash {
    dynoffheap_pool *pool;
    void *ptrs[64];
    int count;
    int64_t calls;
    int64_t last_wanted;
};

#define STASH_ITEM ((size_t)(16 * KiB))

static int64_t stash_spill(void *ctx, int64_t bytes_wanted)
{
    struct stash *s = ctx;
    s->calls++;
    s->last_wanted = bytes_wanted;
    int64_t freed = 0;
    while (s->count > 0 && freed < bytes_wanted) {
        dynoffheap_free(s->pool, s->ptrs[--s->count]);
        freed += (int64_t)STASH_ITEM + 16;
    }
    return freed;
}

static void test_spill_calls_native_and_releases_blocks(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    struct stash s = {.pool = p};
    for (int i = 0; i < 40; i++) {
        s.ptrs[i] = dynoffheap_alloc(p, STASH_ITEM);
        CHECK(s.ptrs[i] != NULL);
    }
    s.count = 40;
    dynoffheap_set_spill(p, stash_spill, &s);
    int64_t before = dynoffheap_reserved(p);
    CHECK_EQ(before, (40 * 16400 + block - 1) / block * block);

    int64_t released = dynoffheap_bridge_pool_spill(h, 200000);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.last_wanted, 200000);
    CHECK_EQ(s.count, 40 - 13); /* 13 * 16400 >= 200000 */
    int64_t used = dynoffheap_used(p);
    CHECK_EQ(used, 27 * 16400);
    int64_t after = dynoffheap_reserved(p);
    CHECK_EQ(after, (used + block - 1) / block * block); /* every whole unused block */
    CHECK_EQ(released, before - after);
    check_accounting(1, h, block);

    /* Without a spill function, spill is a shrink. */
    dynoffheap_set_spill(p, NULL, NULL);
    CHECK_EQ(dynoffheap_bridge_pool_spill(h, 100000), 0);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(dynoffheap_bridge_pool_spill(h, 0), 0);

    while (s.count > 0)
        dynoffheap_free(p, s.ptrs[--s.count]);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(1), 0);
}

/* A spill function that stays inside until told to leave, so a test can act while it runs.
 * With `unregister_inside` it removes itself from inside the call first. */
struct slow_spill {
    dynoffheap_pool *pool;
    int unregister_inside;
    _Atomic int entered;
    _Atomic int leave;
    _Atomic int finished;
};

static int64_t slow_spill_fn(void *ctx, int64_t bytes_wanted)
{
    struct slow_spill *s = ctx;
    (void)bytes_wanted;
    if (s->unregister_inside)
        dynoffheap_set_spill(s->pool, NULL, NULL); /* must not wait for this very call */
    atomic_store(&s->entered, 1);
    while (!atomic_load(&s->leave))
        sched_yield();
    atomic_store(&s->finished, 1);
    return 0;
}

struct spill_call {
    int64_t handle;
    struct slow_spill *spill;
};

static void *call_spill(void *arg)
{
    struct spill_call *c = arg;
    dynoffheap_bridge_pool_spill(c->handle, 1);
    return NULL;
}

static void *release_after_a_while(void *arg)
{
    struct slow_spill *s = arg;
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    atomic_store(&s->leave, 1);
    return NULL;
}

/* Removes the spill function (or closes the pool, with `by_close`) while a call of it runs
 * on another thread: the removal returns only after that call finished. */
static void check_removal_waits_for_spill(int by_close)
{
    fj_reset();
    int64_t h = fj_pool(1, 64 * KiB);
    dynoffheap_pool *p = pool_at(h);
    struct slow_spill s = {.pool = p};
    dynoffheap_set_spill(p, slow_spill_fn, &s);
    struct spill_call c = {.handle = h, .spill = &s};
    pthread_t spiller, releaser;
    CHECK_EQ(pthread_create(&spiller, NULL, call_spill, &c), 0);
    while (!atomic_load(&s.entered))
        sched_yield();
    CHECK_EQ(pthread_create(&releaser, NULL, release_after_a_while, &s), 0);
    if (by_close)
        CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    else
        dynoffheap_set_spill(p, NULL, NULL);
    CHECK_EQ(atomic_load(&s.finished), 1);
    pthread_join(spiller, NULL);
    pthread_join(releaser, NULL);
    if (!by_close)
        CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

static void test_unregistering_waits_for_spill_in_flight(void)
{
    check_removal_waits_for_spill(0);
    check_removal_waits_for_spill(1);
}

static void test_spill_function_may_unregister_itself(void)
{
    fj_reset();
    int64_t h = fj_pool(1, 64 * KiB);
    dynoffheap_pool *p = pool_at(h);
    struct slow_spill s = {.pool = p, .unregister_inside = 1, .leave = 1};
    dynoffheap_set_spill(p, slow_spill_fn, &s);
    CHECK_EQ(dynoffheap_bridge_pool_spill(h, 1), 0); /* returns: no self-deadlock */
    CHECK_EQ(atomic_load(&s.finished), 1);
    atomic_store(&s.finished, 0);
    dynoffheap_bridge_pool_spill(h, 1);
    CHECK_EQ(atomic_load(&s.finished), 0); /* it is gone */
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Close                                                                                */
/* ------------------------------------------------------------------------------------ */

static void test_close_reports_leaks_and_refuses_use(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    char *a = dynoffheap_alloc(p, 1000);
    void *b = dynoffheap_alloc(p, 2000);
    void *c = dynoffheap_alloc_aligned(p, 64, 3000);
    CHECK(dynoffheap_reserve(p, 500) == 0);
    memset(a, 9, 1000);
    dynoffheap_free(p, b);
    int64_t live = 1016 + 3064 + 500;
    CHECK_EQ(dynoffheap_used(p), live);

    int64_t releases = atomic_load(&fj.release_calls);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), live);
    CHECK_EQ(fj_total(1), 0);
    CHECK_EQ(atomic_load(&fj.release_calls), releases + 1);
    CHECK_EQ(dynoffheap_reserved(p), 0);
    CHECK_EQ(dynoffheap_used(p), live);

    int64_t reserves = atomic_load(&fj.reserve_calls);
    CHECK(dynoffheap_alloc(p, 10) == NULL);
    CHECK(error_contains(p, "pool closed"));
    CHECK(dynoffheap_alloc_aligned(p, 128, 10) == NULL);
    CHECK(error_contains(p, "pool closed"));
    CHECK(dynoffheap_reserve(p, 100) != 0);
    CHECK(error_contains(p, "pool closed"));
    CHECK(dynoffheap_realloc(p, a, 100000) == NULL);
    CHECK(error_contains(p, "pool closed"));
    CHECK(a[999] == 9);
    CHECK_EQ(atomic_load(&fj.reserve_calls), reserves);

    /* Freeing after close frees without calling the JVM. */
    dynoffheap_free(p, a);
    dynoffheap_free(p, c);
    dynoffheap_release(p, 500);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(atomic_load(&fj.release_calls), releases + 1);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(dynoffheap_bridge_pool_shrink(h), 0);
    CHECK_EQ(dynoffheap_bridge_pool_spill(h, 100), 0);
    dynoffheap_set_spill(p, stash_spill, NULL);
    CHECK_EQ(dynoffheap_bridge_pool_spill(h, 100), 0);
    CHECK(dynoffheap_peak(p) >= live);
    check_accounting(1, h, block);
}

static void test_closed_pools_quarantined(void)
{
    fj_reset();
    /* More closes than the quarantine holds: the oldest pools are retired on the way. */
    int64_t last = 0;
    int ok = 1;
    for (int i = 0; i < DYNOFFHEAP_QUARANTINE_SIZE + 100; i++) {
        int64_t h = fj_pool(50, DYNOFFHEAP_MIN_BLOCK_SIZE);
        dynoffheap_pool *p = pool_at(h);
        void *x = dynoffheap_alloc(p, 10);
        ok &= x != NULL;
        ok &= dynoffheap_bridge_pool_close(h) == 26;
        dynoffheap_free(p, x); /* late free on a closed pool */
        ok &= dynoffheap_used(p) == 0;
        last = h;
    }
    CHECK(ok);
    CHECK_EQ(fj_total(50), 0);
    CHECK(dynoffheap_alloc(pool_at(last), 10) == NULL);
    CHECK(error_contains(pool_at(last), "pool closed"));
}

/* A thread the JVM did not start, still holding a pool's handle long after the close. */
struct late_user {
    dynoffheap_pool *pool;
    _Atomic int go;
    int refused;   /* allocations and reservations all failed */
    int stale_text;
};

static void *late_user_main(void *arg)
{
    struct late_user *u = arg;
    while (!atomic_load(&u->go))
        sched_yield();
    u->refused = dynoffheap_alloc(u->pool, 10) == NULL &&
                 dynoffheap_alloc_sized(u->pool, 64) == NULL &&
                 dynoffheap_reserve(u->pool, 100) != 0 && dynoffheap_used(u->pool) == 0;
    dynoffheap_release(u->pool, 100);
    u->stale_text = error_contains(u->pool, "is stale");
    return NULL;
}

static int64_t never_spill(void *ctx, int64_t bytes)
{
    (void)bytes;
    atomic_fetch_add((_Atomic int *)ctx, 1);
    return 0;
}

/*
 * The probe's crash: a native thread uses its pool after more than 4096 pool closes, when
 * the pool's struct holds another pool. Every call through the stale handle is refused or
 * harmless, the leaked memory can still be freed through it, and the pool now in the
 * struct is untouched.
 */
static void test_stale_handle_after_many_closes(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *leaked = dynoffheap_alloc(p, 100);
    void *leaked_sized = dynoffheap_alloc_sized(p, 64);
    CHECK(leaked != NULL && leaked_sized != NULL);
    struct late_user u = {.pool = p};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, late_user_main, &u) == 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 116 + 64);

    /* Close pools until one reuses the struct of h (it leaves the quarantine first). */
    uintptr_t mask = (uintptr_t)DYNOFFHEAP_GENERATIONS * sizeof(dynoffheap_pool) - 1;
    int64_t successor = 0;
    for (int i = 0; i < 3 * DYNOFFHEAP_QUARANTINE_SIZE && successor == 0; i++) {
        int64_t n = fj_pool(2, DYNOFFHEAP_MIN_BLOCK_SIZE);
        if (((uintptr_t)n & ~mask) == ((uintptr_t)h & ~mask))
            successor = n;
        else
            CHECK_EQ(dynoffheap_bridge_pool_close(n), 0);
    }
    CHECK(successor != 0 && successor != h);
    dynoffheap_pool *next = pool_at(successor);
    void *live = dynoffheap_alloc(next, 1000);
    CHECK(live != NULL);
    int64_t next_used = dynoffheap_used(next);

    atomic_store(&u.go, 1);
    pthread_join(t, NULL);
    CHECK(u.refused);
    CHECK(u.stale_text);
    CHECK(dynoffheap_abi_compatible(p)); /* the table is still readable through it */
    CHECK(dynoffheap_alloc_aligned(p, 64, 10) == NULL);
    CHECK(dynoffheap_realloc(p, NULL, 10) == NULL);
    CHECK_EQ(dynoffheap_reserved(p), 0);
    CHECK_EQ(dynoffheap_peak(p), 0);
    _Atomic int spills = 0;
    dynoffheap_set_spill(p, never_spill, &spills);
    dynoffheap_free(p, leaked); /* freed (the sanitizer build's leak check would tell) */
    dynoffheap_free_sized(p, leaked_sized, 64);
    dynoffheap_free(p, live); /* the successor's pointer through the stale handle: refused */
    CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
    CHECK_EQ(dynoffheap_bridge_pool_misuses(h, NULL, 0), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);

    CHECK_EQ(dynoffheap_used(next), next_used);
    CHECK_EQ(error_length(next), 0);
    CHECK_EQ(dynoffheap_bridge_pool_misuses(successor, NULL, 0), 0);
    CHECK_EQ(dynoffheap_bridge_pool_spill(successor, 100), 0);
    CHECK_EQ(atomic_load(&spills), 0);
    dynoffheap_free(next, live);
    CHECK_EQ(dynoffheap_used(next), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(successor), 0);
    CHECK_EQ(fj_total(1), 0);
    CHECK_EQ(fj_total(2), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Sized allocations (no header)                                                        */
/* ------------------------------------------------------------------------------------ */

static void test_sized_alloc_free(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    char *a = dynoffheap_alloc_sized(p, 64);
    char *b = dynoffheap_alloc_sized(p, 100);
    CHECK(a != NULL && b != NULL);
    CHECK(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0);
    memset(a, 1, 64);
    memset(b, 2, 100);
    CHECK_EQ(dynoffheap_used(p), 164); /* exactly the sizes: no header */
    CHECK_EQ(dynoffheap_reserved(p), MiB);
    check_accounting(1, h, MiB);

    /* Both kinds side by side in one pool. */
    void *c = dynoffheap_alloc(p, 100);
    CHECK_EQ(dynoffheap_used(p), 164 + 116);
    dynoffheap_free(p, c);
    dynoffheap_free_sized(p, a, 64);
    CHECK_EQ(dynoffheap_used(p), 100);
    dynoffheap_free_sized(p, b, 100);
    dynoffheap_free_sized(p, NULL, 100); /* a no-op */
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_peak(p), 164 + 116);
    CHECK_EQ(error_length(p), 0);

    const size_t alignments[] = {1, 8, 16, 64, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof alignments / sizeof alignments[0]; i++) {
        size_t effective = alignments[i] < 16 ? 16 : alignments[i];
        char *x = dynoffheap_alloc_sized_aligned(p, alignments[i], 1000);
        CHECK(x != NULL);
        if (x == NULL)
            continue;
        CHECK(((uintptr_t)x & (effective - 1)) == 0);
        memset(x, 0x5a, 1000);
        CHECK_EQ(dynoffheap_used(p), 1000);
        dynoffheap_free_sized(p, x, 1000);
        CHECK_EQ(dynoffheap_used(p), 0);
    }
    CHECK(dynoffheap_alloc_sized_aligned(p, 48, 64) == NULL);
    CHECK(error_contains(p, "alloc_sized_aligned: alignment 48"));
    CHECK(dynoffheap_alloc_sized(p, 0) == NULL);
    CHECK(error_contains(p, "size 0"));
    CHECK(dynoffheap_alloc_sized(p, (size_t)INT64_MAX + 1) == NULL);
    CHECK(error_contains(p, "is above the largest size"));
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(atomic_load(&fj.reserve_calls), 1);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(1), 0);
}

/* A sized allocation the JVM denies changes nothing; a huge one asks the JVM once. */
static void test_sized_denial_rolls_back(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    atomic_store(&fj.budget, 2 * block);
    int64_t h = fj_pool(1, block);
    dynoffheap_pool *p = pool_at(h);
    void *a = dynoffheap_alloc_sized(p, 100 * KiB);
    CHECK(a != NULL);
    CHECK_EQ(dynoffheap_used(p), 100 * KiB);
    CHECK(dynoffheap_alloc_sized(p, 50 * KiB) == NULL);
    CHECK(error_contains(p, "alloc_sized of 51200 bytes denied"));
    CHECK(dynoffheap_alloc_sized_aligned(p, 4096, 50 * KiB) == NULL);
    CHECK(error_contains(p, "denied"));
    CHECK_EQ(dynoffheap_used(p), 100 * KiB);
    CHECK_EQ(dynoffheap_reserved(p), 2 * block);
    check_accounting(1, h, block);
    dynoffheap_free_sized(p, a, 100 * KiB);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(1), 0);
}

/* What a release build rejects too: a pointer or a size no sized allocation can have. */
static void test_sized_free_rejects_impossible_input(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    char *a = dynoffheap_alloc_sized(p, 64);
    CHECK(a != NULL);
    dynoffheap_free_sized(p, a + 8, 64);
    CHECK(error_contains(p, "not allocated by this pool"));
    dynoffheap_free_sized(p, a, 0);
    CHECK(error_contains(p, "size 0"));
    dynoffheap_free_sized(p, a, SIZE_MAX);
    CHECK(error_contains(p, "cannot be a sized allocation"));
    CHECK_EQ(dynoffheap_used(p), 64);
    dynoffheap_free_sized(p, a, 64);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* Sized allocations on a closed pool: allocating fails, a late free still frees. */
static void test_sized_on_closed_pool(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *a = dynoffheap_alloc_sized(p, 300);
    CHECK(a != NULL);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 300);
    CHECK(dynoffheap_alloc_sized(p, 10) == NULL);
    CHECK(error_contains(p, "pool closed"));
    CHECK(dynoffheap_alloc_sized_aligned(p, 64, 10) == NULL);
    CHECK(error_contains(p, "pool closed"));
    CHECK_EQ(dynoffheap_used(p), 300);
    dynoffheap_free_sized(p, a, 300);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(fj_total(1), 0);
}

/* Debug mode's live map catches every misuse of a sized free before freeing. */
static void test_sized_misuse_detected_in_debug_mode(void)
{
    fj_reset();
    int was = debug_mode(1);
    int64_t h1 = fj_pool(1, MiB), h2 = fj_pool(2, MiB);
    dynoffheap_pool *p = pool_at(h1), *other = pool_at(h2);
    char *s = dynoffheap_alloc_sized(p, 64);
    char *hd = dynoffheap_alloc(p, 64);
    char *gone = dynoffheap_alloc_sized(p, 32);
    CHECK(s != NULL && hd != NULL && gone != NULL);
    dynoffheap_free_sized(p, gone, 32);
    int64_t used = dynoffheap_used(p);
    CHECK_EQ(used, 64 + 80);

    dynoffheap_free_sized(p, gone, 32); /* double free */
    CHECK(error_contains(p, "was already freed (double free)"));
    dynoffheap_free_sized(p, s, 48); /* wrong size */
    CHECK(error_contains(p, "sized allocation of another size"));
    dynoffheap_free_sized(p, hd, 64); /* memory from dynoffheap_alloc */
    CHECK(error_contains(p, "came from dynoffheap_alloc"));
    dynoffheap_free(p, s); /* a sized allocation through the unsized free */
    CHECK(error_contains(p, "free it with dynoffheap_free_sized"));
    CHECK(dynoffheap_realloc(p, s, 100) == NULL);
    CHECK(error_contains(p, "free it with dynoffheap_free_sized"));
    dynoffheap_free_sized(other, s, 64); /* another pool's pointer */
    CHECK(error_contains(other, "not a live allocation"));
    CHECK_EQ(dynoffheap_used(p), used);
    CHECK_EQ(dynoffheap_used(other), 0);

    memset(s, 4, 64); /* both still live and usable */
    memset(hd, 5, 64);
    dynoffheap_free_sized(p, s, 64);
    dynoffheap_free(p, hd);
    CHECK_EQ(dynoffheap_used(p), 0);
    /* The probe's case: a wrong size, then the right one, then a second free. */
    char *w = dynoffheap_alloc_sized(p, 200);
    dynoffheap_free_sized(p, w, 100);
    CHECK(error_contains(p, "sized allocation of another size"));
    CHECK_EQ(dynoffheap_used(p), 200);
    dynoffheap_free_sized(p, w, 200);
    CHECK_EQ(dynoffheap_used(p), 0);
    dynoffheap_free_sized(p, w, 200);
    CHECK(error_contains(p, "free_sized: "));
    CHECK(error_contains(p, "was already freed (double free)"));
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(misuses(h1, "free_sized: "), 7);
    CHECK_EQ(misuses(h2, "not a live allocation"), 1);
    CHECK_EQ(dynoffheap_bridge_pool_close(h1), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h2), 0);
    debug_mode(was);
}

/* Bad arguments fail with a text that names the argument, its value and the limit. */
static void test_bad_arguments_name_the_limit(void)
{
    fj_reset();
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    CHECK(dynoffheap_alloc(p, (size_t)-1) == NULL); /* a negative size */
    CHECK(error_contains(p, "alloc: size 18446744073709551615 is above the largest size"));
    CHECK(error_contains(p, "9223372036854775791"));
    CHECK(dynoffheap_alloc_sized(p, (size_t)INT64_MAX + 1) == NULL);
    CHECK(error_contains(p, "alloc_sized: size 9223372036854775808"));
    CHECK(error_contains(p, "9223372036854775807"));
    CHECK(dynoffheap_alloc_aligned(p, 4096, (size_t)INT64_MAX - 4000) == NULL);
    CHECK(error_contains(p, "9223372036854771711")); /* INT64_MAX - 4096 */
    CHECK(dynoffheap_alloc(p, 0) == NULL);
    CHECK(error_contains(p, "size must be at least 1"));
    CHECK(dynoffheap_alloc_aligned(p, 3, 10) == NULL);
    CHECK(error_contains(p, "alloc_aligned: alignment 3 is not a power of two of at most "
                            "67108864"));
    CHECK(dynoffheap_alloc_sized_aligned(p, (size_t)1 << 27, 10) == NULL);
    CHECK(error_contains(p, "alignment 134217728"));
    CHECK(dynoffheap_reserve(p, -5) != 0);
    CHECK(error_contains(p, "reserve: bytes -5 is negative (must be at least 0)"));
    dynoffheap_release(p, -5);
    CHECK(error_contains(p, "release: bytes -5 is negative"));
    char *a = dynoffheap_alloc_sized(p, 32);
    dynoffheap_free_sized(p, a, 0);
    CHECK(error_contains(p, "free_sized: size 0 of"));
    CHECK(error_contains(p, "at most 9223372036854775807"));
    CHECK_EQ(dynoffheap_used(p), 32);
    CHECK_EQ(atomic_load(&fj.reserve_calls), 1); /* only the 32 bytes reached the JVM */
    CHECK_EQ(misuses(h, "release: "), 2);
    dynoffheap_free_sized(p, a, 32);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Threads                                                                              */
/* ------------------------------------------------------------------------------------ */

struct storm_arg {
    dynoffheap_pool *pool;
    uint64_t seed;
    int iterations;
    _Atomic int64_t *failures;   /* unexpected NULLs or corrupted contents */
    _Atomic int64_t *denied;     /* NULLs expected under a budget */
    int expect_denials;
};

#define STORM_LIVE 32

static size_t storm_size(uint64_t r)
{
    switch (r % 64) {
    case 0:
        return (size_t)(300 * KiB); /* larger than a block of the storm pools */
    case 1: case 2: case 3: case 4:
        return (size_t)(4 * KiB + (int64_t)(r >> 8) % (60 * KiB));
    default:
        return (size_t)(8 + (r >> 8) % 2048);
    }
}

/* Frees one storm allocation the way it was made. */
static void storm_free(dynoffheap_pool *pool, void *m, size_t size, int sized)
{
    if (sized)
        dynoffheap_free_sized(pool, m, size);
    else
        dynoffheap_free(pool, m);
}

/* Allocates for the storm: one in four sized (half of those 64-aligned), the rest with
 * a header (one in two 64-aligned). */
static void *storm_alloc(dynoffheap_pool *pool, uint64_t r, size_t size, int *sized)
{
    *sized = (r & 48) == 48;
    if (*sized)
        return (r & 8) ? dynoffheap_alloc_sized_aligned(pool, 64, size)
                       : dynoffheap_alloc_sized(pool, size);
    return (r & 8) ? dynoffheap_alloc_aligned(pool, 64, size) : dynoffheap_alloc(pool, size);
}

static void *storm_thread(void *arg)
{
    struct storm_arg *a = arg;
    void *live[STORM_LIVE] = {0};
    size_t sizes[STORM_LIVE] = {0};
    int sized[STORM_LIVE] = {0};
    uint64_t rng = a->seed;
    for (int i = 0; i < a->iterations; i++) {
        uint64_t r = next_random(&rng);
        int slot = (int)(r % STORM_LIVE);
        if (live[slot] != NULL) {
            unsigned char *m = live[slot];
            if (m[0] != (unsigned char)slot || m[sizes[slot] - 1] != (unsigned char)slot)
                atomic_fetch_add(a->failures, 1);
            if (r % 5 == 0 && !sized[slot]) { /* some reallocs */
                size_t n = storm_size(next_random(&rng));
                unsigned char *g = dynoffheap_realloc(a->pool, m, n);
                if (g != NULL) {
                    g[0] = (unsigned char)slot;
                    g[n - 1] = (unsigned char)slot;
                    live[slot] = g;
                    sizes[slot] = n;
                    continue;
                }
                atomic_fetch_add(a->expect_denials ? a->denied : a->failures, 1);
            }
            storm_free(a->pool, m, sizes[slot], sized[slot]);
            live[slot] = NULL;
        } else {
            size_t n = storm_size(next_random(&rng));
            unsigned char *m = storm_alloc(a->pool, r, n, &sized[slot]);
            if (m == NULL) {
                atomic_fetch_add(a->expect_denials ? a->denied : a->failures, 1);
                /* Under a budget: give back half of what this thread holds. */
                for (int k = 0; k < STORM_LIVE; k += 2) {
                    storm_free(a->pool, live[k], sizes[k], sized[k]);
                    live[k] = NULL;
                }
                continue;
            }
            m[0] = (unsigned char)slot;
            m[n - 1] = (unsigned char)slot;
            live[slot] = m;
            sizes[slot] = n;
        }
    }
    for (int k = 0; k < STORM_LIVE; k++)
        storm_free(a->pool, live[k], sizes[k], sized[k]);
    return NULL;
}

/* A reader hammering the getters and the error text while the storm runs. */
struct reader_arg {
    int64_t handle;
    _Atomic int stop;
    _Atomic int64_t bad;
};

static void *reader_thread(void *arg)
{
    struct reader_arg *r = arg;
    char buf[64];
    while (!atomic_load(&r->stop)) {
        int64_t used = dynoffheap_bridge_pool_used(r->handle);
        int64_t reserved = dynoffheap_bridge_pool_reserved(r->handle);
        if (used < 0 || reserved < 0)
            atomic_fetch_add(&r->bad, 1);
        dynoffheap_bridge_pool_peak(r->handle);
        dynoffheap_bridge_pool_last_error(r->handle, buf, sizeof buf);
    }
    return NULL;
}

static void run_storm(int64_t handle, int threads, int iterations, int expect_denials,
                      _Atomic int64_t *failures, _Atomic int64_t *denied)
{
    pthread_t tids[8];
    struct storm_arg args[8];
    struct reader_arg reader = {.handle = handle};
    pthread_t reader_tid;
    pthread_create(&reader_tid, NULL, reader_thread, &reader);
    for (int t = 0; t < threads; t++) {
        args[t] = (struct storm_arg){.pool = pool_at(handle),
                                     .seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1),
                                     .iterations = iterations,
                                     .failures = failures,
                                     .denied = denied,
                                     .expect_denials = expect_denials};
        pthread_create(&tids[t], NULL, storm_thread, &args[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    atomic_store(&reader.stop, 1);
    pthread_join(reader_tid, NULL);
    CHECK_EQ(atomic_load(&reader.bad), 0);
}

static void test_thread_storm_exact_accounting(void)
{
    fj_reset();
    const int64_t block = 256 * KiB;
    int64_t h = fj_pool(3, block);
    _Atomic int64_t failures = 0, denied = 0;
    run_storm(h, 4, 20000, 0, &failures, &denied);
    CHECK_EQ(atomic_load(&failures), 0);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
    check_accounting(3, h, block);
    CHECK(dynoffheap_bridge_pool_peak(h) > 0);
    CHECK(atomic_load(&fj.reserve_calls) > 0);
    dynoffheap_bridge_pool_shrink(h);
    CHECK_EQ(dynoffheap_bridge_pool_reserved(h), 0);
    CHECK_EQ(fj_total(3), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(atomic_load(&fj.bad_calls), 0);
}

static void test_thread_storm_under_budget(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    const int64_t budget = 512 * KiB;
    atomic_store(&fj.budget, budget);
    int64_t h = fj_pool(4, block);
    _Atomic int64_t failures = 0, denied = 0;
    run_storm(h, 4, 20000, 1, &failures, &denied);
    CHECK_EQ(atomic_load(&failures), 0);
    CHECK(atomic_load(&denied) > 0);
    CHECK(atomic_load(&fj.denials) > 0);
    CHECK(fj_total(4) <= budget);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
    check_accounting(4, h, block);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
    CHECK_EQ(fj_total(4), 0);
}

/* Memory allocated on one thread and freed on another. */
struct handoff_arg {
    dynoffheap_pool *pool;
    void **ptrs;
    int count;
    int allocate;
    _Atomic int64_t *failures;
};

static void *handoff_thread(void *arg)
{
    struct handoff_arg *a = arg;
    for (int i = 0; i < a->count; i++) {
        if (a->allocate) {
            a->ptrs[i] = dynoffheap_alloc(a->pool, (size_t)(16 + (i * 37) % 3000));
            if (a->ptrs[i] == NULL)
                atomic_fetch_add(a->failures, 1);
        } else {
            dynoffheap_free(a->pool, a->ptrs[i]);
        }
    }
    return NULL;
}

static void test_cross_thread_free(void)
{
    fj_reset();
    const int64_t block = 128 * KiB;
    int64_t h = fj_pool(5, block);
    enum { THREADS = 4, EACH = 3000 };
    static void *ptrs[THREADS][EACH];
    _Atomic int64_t failures = 0;
    pthread_t tids[THREADS];
    struct handoff_arg args[THREADS];
    for (int phase = 1; phase >= 0; phase--) {
        for (int t = 0; t < THREADS; t++) {
            /* Phase 1 allocates into row t; phase 0 frees row t+1 on thread t. */
            int row = phase ? t : (t + 1) % THREADS;
            args[t] = (struct handoff_arg){.pool = pool_at(h), .ptrs = ptrs[row],
                                           .count = EACH, .allocate = phase,
                                           .failures = &failures};
            pthread_create(&tids[t], NULL, handoff_thread, &args[t]);
        }
        for (int t = 0; t < THREADS; t++)
            pthread_join(tids[t], NULL);
        check_accounting(5, h, block);
    }
    CHECK_EQ(atomic_load(&failures), 0);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
    dynoffheap_bridge_pool_shrink(h);
    CHECK_EQ(dynoffheap_bridge_pool_reserved(h), 0);
    CHECK_EQ(fj_total(5), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* ------------------------------------------------------------------------------------ */
/* Slots: ownership, sweeps and close under concurrency                                 */
/* ------------------------------------------------------------------------------------ */

/* Small allocations (the slot fast path) that keep up to `ring` live and, at the end,
 * hold `hold` of them; `held` gets the bytes they are charged with. */
struct churn_arg {
    dynoffheap_pool *pool;
    uint64_t seed;
    int iterations;
    int hold;
    int64_t held;
    void *kept[16];
    _Atomic int64_t *failures;
    _Atomic int64_t *ops;
};

#define CHURN_RING 8

static void *churn_thread(void *arg)
{
    struct churn_arg *a = arg;
    void *ring[CHURN_RING] = {0};
    uint64_t rng = a->seed;
    for (int i = 0; i < a->iterations; i++) {
        int k = i % CHURN_RING;
        dynoffheap_free(a->pool, ring[k]);
        size_t n = (size_t)(1 + next_random(&rng) % 1500);
        ring[k] = dynoffheap_alloc(a->pool, n);
        if (ring[k] == NULL)
            atomic_fetch_add(a->failures, 1);
        else
            memset(ring[k], k, n);
        if (a->ops != NULL)
            atomic_fetch_add_explicit(a->ops, 1, memory_order_relaxed);
    }
    for (int k = 0; k < CHURN_RING; k++)
        dynoffheap_free(a->pool, ring[k]);
    a->held = 0;
    for (int k = 0; k < a->hold && k < 16; k++) {
        size_t n = (size_t)(100 + 10 * k);
        a->kept[k] = dynoffheap_alloc(a->pool, n);
        if (a->kept[k] == NULL)
            atomic_fetch_add(a->failures, 1);
        else
            a->held += (int64_t)n + 16;
    }
    return NULL;
}

/* A thread that sweeps the pool (shrink and spill) and reads its getters until told to
 * stop: every sweep races the churn threads' fast paths. */
struct sweeper_arg {
    int64_t handle;
    _Atomic int stop;
    _Atomic int64_t sweeps;
    _Atomic int64_t bad;
};

static void *sweeper_thread(void *arg)
{
    struct sweeper_arg *s = arg;
    while (!atomic_load(&s->stop)) {
        dynoffheap_bridge_pool_shrink(s->handle);
        dynoffheap_bridge_pool_spill(s->handle, 1); /* no spill function: a shrink */
        int64_t used = dynoffheap_bridge_pool_used(s->handle);
        int64_t reserved = dynoffheap_bridge_pool_reserved(s->handle);
        if (used < 0 || reserved < 0)
            atomic_fetch_add(&s->bad, 1);
        dynoffheap_bridge_pool_peak(s->handle);
        atomic_fetch_add(&s->sweeps, 1);
    }
    return NULL;
}

/* Runs `threads` churn threads (with a sweeper when asked), then checks that `used` is
 * exactly what they still hold, that close reports exactly that, and that the late
 * frees bring the closed pool to zero. */
static void churn_and_check(int threads, int iterations, int with_sweeper)
{
    fj_reset();
    const int64_t block = 64 * KiB; /* quantum 4 KiB: refills and give-backs are frequent */
    int64_t h = fj_pool(6, block);
    enum { MAX = 64 };
    pthread_t tids[MAX];
    static struct churn_arg args[MAX];
    _Atomic int64_t failures = 0;
    struct sweeper_arg sweeper = {.handle = h};
    pthread_t sweeper_tid;
    if (with_sweeper) {
        pthread_create(&sweeper_tid, NULL, sweeper_thread, &sweeper);
        /* On a loaded machine the churn could end before the sweeper ever ran. */
        while (atomic_load(&sweeper.sweeps) == 0)
            sched_yield();
    }
    for (int t = 0; t < threads && t < MAX; t++) {
        args[t] = (struct churn_arg){.pool = pool_at(h),
                                     .seed = 0x2545F4914F6CDD1DULL * (uint64_t)(t + 7),
                                     .iterations = iterations,
                                     .hold = 1 + t % 5,
                                     .failures = &failures};
        pthread_create(&tids[t], NULL, churn_thread, &args[t]);
    }
    int64_t held = 0;
    for (int t = 0; t < threads && t < MAX; t++) {
        pthread_join(tids[t], NULL);
        held += args[t].held;
    }
    if (with_sweeper) {
        atomic_store(&sweeper.stop, 1);
        pthread_join(sweeper_tid, NULL);
        CHECK(atomic_load(&sweeper.sweeps) > 0);
        CHECK_EQ(atomic_load(&sweeper.bad), 0);
    }
    CHECK_EQ(atomic_load(&failures), 0);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), held);
    check_accounting(6, h, block);
    dynoffheap_bridge_pool_shrink(h); /* the exited threads' slots are swept too */
    CHECK_EQ(dynoffheap_bridge_pool_reserved(h), (held + block - 1) / block * block);
    CHECK_EQ(fj_total(6), dynoffheap_bridge_pool_reserved(h));
    CHECK_EQ(dynoffheap_bridge_pool_close(h), held);
    CHECK_EQ(fj_total(6), 0);
    for (int t = 0; t < threads && t < MAX; t++)
        for (int k = 0; k < args[t].hold && k < 16; k++)
            dynoffheap_free(pool_at(h), args[t].kept[k]);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
    CHECK_EQ(atomic_load(&fj.bad_calls), 0);
}

static void test_sweeps_race_the_fast_path(void)
{
    churn_and_check(4, 30000, 1);
}

static void test_more_threads_than_slots(void)
{
    churn_and_check(40, 3000, 1);
}

/* Short-lived threads one after another: each exits holding an allocation and a slot,
 * the next one takes over its thread record (and the slot with it). */
static void *short_lived_thread(void *arg)
{
    struct churn_arg *a = arg;
    void *x = dynoffheap_alloc(a->pool, 300);
    void *y = dynoffheap_alloc(a->pool, 200);
    a->kept[0] = dynoffheap_alloc(a->pool, 100);
    if (x == NULL || y == NULL || a->kept[0] == NULL)
        atomic_fetch_add(a->failures, 1);
    dynoffheap_free(a->pool, x);
    dynoffheap_free(a->pool, y);
    return NULL;
}

static void test_thread_exit_hands_over_records(void)
{
    fj_reset();
    const int64_t block = 64 * KiB;
    int64_t h = fj_pool(7, block);
    enum { ROUNDS = 300 };
    static struct churn_arg args[ROUNDS];
    _Atomic int64_t failures = 0;
    for (int i = 0; i < ROUNDS; i += 2) { /* two at a time */
        pthread_t a, b;
        args[i] = (struct churn_arg){.pool = pool_at(h), .failures = &failures};
        args[i + 1] = (struct churn_arg){.pool = pool_at(h), .failures = &failures};
        pthread_create(&a, NULL, short_lived_thread, &args[i]);
        pthread_create(&b, NULL, short_lived_thread, &args[i + 1]);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    }
    CHECK_EQ(atomic_load(&failures), 0);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), ROUNDS * 116);
    check_accounting(7, h, block);
    for (int i = 0; i < ROUNDS; i++)
        dynoffheap_free(pool_at(h), args[i].kept[0]);
    CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
    dynoffheap_bridge_pool_shrink(h);
    CHECK_EQ(dynoffheap_bridge_pool_reserved(h), 0);
    CHECK_EQ(fj_total(7), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);
}

/* One thread switching between two pools on every call: each keeps exact accounts. */
static void test_one_thread_two_pools(void)
{
    fj_reset();
    int64_t ha = fj_pool(8, MiB), hb = fj_pool(9, MiB);
    dynoffheap_pool *pa = pool_at(ha), *pb = pool_at(hb);
    void *ka[50], *kb[50];
    int ok = 1;
    for (int i = 0; i < 50; i++) {
        ka[i] = dynoffheap_alloc(pa, 100);
        kb[i] = dynoffheap_alloc(pb, 200);
        void *ta = dynoffheap_alloc(pa, 5000);
        void *tb = dynoffheap_alloc(pb, 7000);
        dynoffheap_free(pa, ta);
        dynoffheap_free(pb, tb);
        ok &= ka[i] != NULL && kb[i] != NULL && ta != NULL && tb != NULL;
        ok &= dynoffheap_used(pa) == (i + 1) * 116;
        ok &= dynoffheap_used(pb) == (i + 1) * 216;
    }
    CHECK(ok);
    CHECK_EQ(dynoffheap_peak(pa), 49 * 116 + 116 + 5016);
    CHECK_EQ(dynoffheap_peak(pb), 49 * 216 + 216 + 7016);
    for (int i = 0; i < 50; i++) {
        dynoffheap_free(pb, kb[i]);
        dynoffheap_free(pa, ka[i]);
    }
    CHECK_EQ(dynoffheap_used(pa), 0);
    CHECK_EQ(dynoffheap_used(pb), 0);
    check_accounting(8, ha, MiB);
    check_accounting(9, hb, MiB);
    CHECK_EQ(dynoffheap_bridge_pool_close(ha), 0);
    CHECK_EQ(dynoffheap_bridge_pool_close(hb), 0);
    CHECK_EQ(fj_total(8), 0);
    CHECK_EQ(fj_total(9), 0);
}

/* close() while threads still allocate and free: after they free what they hold (late
 * frees on the closed pool), its live count must be exactly zero. */
struct racer_arg {
    dynoffheap_pool *pool;
    uint64_t seed;
    _Atomic int64_t *ops;
    _Atomic int64_t *closed_seen;
};

static void *close_racer_thread(void *arg)
{
    struct racer_arg *a = arg;
    void *ring[CHURN_RING] = {0};
    uint64_t rng = a->seed;
    for (int i = 0;; i++) {
        int k = i % CHURN_RING;
        dynoffheap_free(a->pool, ring[k]);
        uint64_t r = next_random(&rng);
        size_t n = r % 16 == 0 ? (size_t)(20 * KiB) : (size_t)(1 + (r >> 8) % 1500);
        ring[k] = dynoffheap_alloc(a->pool, n);
        atomic_fetch_add_explicit(a->ops, 1, memory_order_relaxed);
        if (ring[k] == NULL) {
            atomic_fetch_add(a->closed_seen, 1);
            break;
        }
    }
    for (int k = 0; k < CHURN_RING; k++)
        dynoffheap_free(a->pool, ring[k]);
    return NULL;
}

static void test_close_races_allocating_threads(void)
{
    for (int round = 0; round < 50; round++) {
        fj_reset();
        const int64_t block = 64 * KiB;
        int64_t h = fj_pool(10, block);
        enum { THREADS = 4 };
        pthread_t tids[THREADS];
        struct racer_arg args[THREADS];
        _Atomic int64_t ops = 0, closed_seen = 0;
        for (int t = 0; t < THREADS; t++) {
            args[t] = (struct racer_arg){.pool = pool_at(h),
                                         .seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 3 + round),
                                         .ops = &ops,
                                         .closed_seen = &closed_seen};
            pthread_create(&tids[t], NULL, close_racer_thread, &args[t]);
        }
        while (atomic_load(&ops) < 2000 * (round % 5 + 1))
            sched_yield();
        int64_t leaked = dynoffheap_bridge_pool_close(h);
        for (int t = 0; t < THREADS; t++)
            pthread_join(tids[t], NULL);
        CHECK(leaked >= 0);
        CHECK_EQ(atomic_load(&closed_seen), THREADS);
        CHECK(error_contains(pool_at(h), "pool closed"));
        CHECK_EQ(dynoffheap_bridge_pool_used(h), 0);
        CHECK_EQ(fj_total(10), 0);
        CHECK_EQ(atomic_load(&fj.bad_calls), 0);
    }
}

/* ------------------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------------------ */
/* Debug mode: where allocations and frees were made                                     */
/* ------------------------------------------------------------------------------------ */

/* Stands for native operators: exported functions (the test binary is linked with
 * -rdynamic), so the sites dladdr finds carry their names. Each keeps its pool call out of
 * tail position (NOT_TAIL), as a tail call would make the site its caller's. */
#define NOT_TAIL() __asm__ volatile("" ::: "memory")
#define SITE_FN __attribute__((noinline, used))

SITE_FN void *dbgsite_make_rows(dynoffheap_pool *p, size_t n)
{
    void *r = dynoffheap_alloc(p, n);
    NOT_TAIL();
    return r;
}

SITE_FN void *dbgsite_make_index(dynoffheap_pool *p, size_t n)
{
    void *r = dynoffheap_alloc_sized(p, n);
    NOT_TAIL();
    return r;
}

SITE_FN void dbgsite_drop_rows(dynoffheap_pool *p, void *rows)
{
    dynoffheap_free(p, rows);
    NOT_TAIL();
}

SITE_FN void dbgsite_drop_rows_again(dynoffheap_pool *p, void *rows)
{
    dynoffheap_free(p, rows);
    NOT_TAIL();
}

SITE_FN void dbgsite_drop_index(dynoffheap_pool *p, void *index, size_t n)
{
    dynoffheap_free_sized(p, index, n);
    NOT_TAIL();
}

/* Twelve distinct sites (the sizes differ so the compiler cannot fold them into one). */
#define SITE_N(k)                                                                         \
    SITE_FN void *dbgsite_many_##k(dynoffheap_pool *p)                                    \
    {                                                                                     \
        void *r = dynoffheap_alloc_sized(p, 16 * (k));                                    \
        NOT_TAIL();                                                                       \
        return r;                                                                         \
    }
SITE_N(1) SITE_N(2) SITE_N(3) SITE_N(4) SITE_N(5) SITE_N(6)
SITE_N(7) SITE_N(8) SITE_N(9) SITE_N(10) SITE_N(11) SITE_N(12)

/* The pool's leak report ("" when it made none), NUL-terminated in buf. */
static int64_t leak_report(int64_t handle, char *buf, size_t len)
{
    int64_t n = dynoffheap_bridge_pool_leak_report(handle, buf, (int64_t)len);
    CHECK_EQ(dynoffheap_bridge_pool_leak_report(handle, NULL, 0), n);
    return n;
}

static int text_has(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL)
        return 1;
    fprintf(stderr, "    text \"%s\" lacks \"%s\"\n", text, needle);
    return 0;
}

static void test_leak_report_names_allocation_sites(void)
{
    fj_reset();
    int was = debug_mode(1);
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *rows[3];
    for (int i = 0; i < 3; i++)
        rows[i] = dbgsite_make_rows(p, 64); /* 80 bytes charged each */
    void *index = dbgsite_make_index(p, 4000);
    void *freed = dbgsite_make_rows(p, 1000);
    dbgsite_drop_rows(p, freed);
    CHECK(dynoffheap_reserve(p, 512) == 0);
    CHECK(rows[2] != NULL && index != NULL);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 3 * 80 + 4000 + 512);

    char report[4096];
    int64_t n = leak_report(h, report, sizeof report);
    CHECK_EQ(n, (int64_t)strlen(report));
    CHECK(text_has(report, "4 live allocation(s) of 4240 bytes, by the site that allocated "
                           "them (debug mode), largest first:\n"));
    CHECK(text_has(report, "\n    4000 bytes in 1 allocation(s) at dbgsite_make_index+0x"));
    CHECK(text_has(report, "\n    240 bytes in 3 allocation(s) at dbgsite_make_rows+0x"));
    CHECK(text_has(report, " (dynoffheap_tests")); /* the library: this executable */
    CHECK(strstr(report, "dbgsite_make_index") < strstr(report, "dbgsite_make_rows"));
    CHECK(text_has(report, "\n    512 bytes taken with dynoffheap_reserve (no site is recorded)"));
    char cut[40];
    CHECK_EQ(leak_report(h, cut, sizeof cut), n);
    CHECK_EQ(strlen(cut), sizeof cut - 1);

    for (int i = 0; i < 3; i++) /* frees after close still work */
        dynoffheap_free(p, rows[i]);
    dynoffheap_free_sized(p, index, 4000);
    CHECK_EQ(dynoffheap_used(p), 512);
    debug_mode(was);
}

static void test_leak_report_keeps_the_largest_ten_sites(void)
{
    fj_reset();
    int was = debug_mode(1);
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *(*const fns[12])(dynoffheap_pool *) = {
        dbgsite_many_1, dbgsite_many_2, dbgsite_many_3, dbgsite_many_4,
        dbgsite_many_5, dbgsite_many_6, dbgsite_many_7, dbgsite_many_8,
        dbgsite_many_9, dbgsite_many_10, dbgsite_many_11, dbgsite_many_12};
    void *blocks[12];
    for (int k = 0; k < 12; k++)
        blocks[k] = fns[k](p);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 16 * 78);
    char report[4096];
    leak_report(h, report, sizeof report);
    CHECK(text_has(report, "12 live allocation(s) of 1248 bytes"));
    CHECK(text_has(report, "\n    192 bytes in 1 allocation(s) at dbgsite_many_12+0x"));
    CHECK(text_has(report, "\n    48 bytes in 1 allocation(s) at dbgsite_many_3+0x"));
    CHECK(strstr(report, "dbgsite_many_2+") == NULL && strstr(report, "dbgsite_many_1+") == NULL);
    CHECK(text_has(report, "\n    ... and 2 more site(s): 48 bytes in 2 allocation(s)"));
    for (int k = 0; k < 12; k++)
        dynoffheap_free_sized(p, blocks[k], 16 * (size_t)(k + 1));
    CHECK_EQ(dynoffheap_used(p), 0);

    /* Without debug mode, and without a leak, there is no report. */
    debug_mode(0);
    int64_t plain = fj_pool(2, MiB);
    void *kept = dbgsite_make_rows(pool_at(plain), 64);
    CHECK(dynoffheap_bridge_pool_close(plain) > 0);
    CHECK_EQ(leak_report(plain, report, sizeof report), 0);
    CHECK_EQ(strlen(report), 0);
    dynoffheap_free(pool_at(plain), kept);
    debug_mode(1);
    int64_t clean = fj_pool(3, MiB);
    dbgsite_drop_rows(pool_at(clean), dbgsite_make_rows(pool_at(clean), 64));
    CHECK_EQ(dynoffheap_bridge_pool_close(clean), 0);
    CHECK_EQ(leak_report(clean, report, sizeof report), 0);
    /* A pool made with pool_create_debug runs in debug mode whatever the default. */
    debug_mode(0);
    int64_t forced = dynoffheap_bridge_pool_create_debug(4, MiB);
    kept = dbgsite_make_index(pool_at(forced), 100);
    CHECK_EQ(dynoffheap_bridge_pool_close(forced), 100);
    leak_report(forced, report, sizeof report);
    CHECK(text_has(report, "100 bytes in 1 allocation(s) at dbgsite_make_index+0x"));
    dynoffheap_free_sized(pool_at(forced), kept, 100);
    debug_mode(was);
}

static void test_double_free_names_allocation_and_first_free(void)
{
    fj_reset();
    int was = debug_mode(1);
    int64_t h = fj_pool(1, MiB);
    dynoffheap_pool *p = pool_at(h);
    void *a = dbgsite_make_rows(p, 100);
    dbgsite_drop_rows(p, a);
    dbgsite_drop_rows_again(p, a);
    CHECK(error_contains(p, "free: 0x"));
    CHECK(error_contains(p, " was already freed (double free): allocated at dbgsite_make_rows+0x"));
    CHECK(error_contains(p, ", first freed at dbgsite_drop_rows+0x"));
    CHECK(error_contains(p, " (pool '1')"));
    CHECK_EQ(misuses(h, "first freed at dbgsite_drop_rows+0x"), 1);

    /* Sized: a wrong size names the allocation; a second free names the first one. */
    char *s = dbgsite_make_index(p, 200);
    dbgsite_drop_index(p, s, 100);
    CHECK(error_contains(p, "free_sized: 0x"));
    CHECK(error_contains(p, "is a sized allocation of another size: 200 bytes, freed with "
                            "size 100; allocated at dbgsite_make_index+0x"));
    CHECK_EQ(dynoffheap_used(p), 200);
    dbgsite_drop_index(p, s, 200);
    dynoffheap_free_sized(p, s, 200);
    CHECK(error_contains(p, "was already freed (double free): allocated at "
                            "dbgsite_make_index+0x"));
    CHECK(error_contains(p, "first freed at dbgsite_drop_index+0x"));
    /* The other kind's free names where the block came from. */
    void *hd = dbgsite_make_rows(p, 64);
    dbgsite_drop_index(p, hd, 64);
    CHECK(error_contains(p, "came from dynoffheap_alloc"));
    CHECK(error_contains(p, "allocated at dbgsite_make_rows+0x"));
    dbgsite_drop_rows(p, hd);
    CHECK_EQ(dynoffheap_used(p), 0);
    CHECK_EQ(misuses(h, NULL), 4);
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 0);

    /* Without debug mode the text stays the fast path's (no sites). */
    debug_mode(0);
    int64_t h2 = fj_pool(2, MiB);
    void *b = dbgsite_make_rows(pool_at(h2), 100);
    dbgsite_drop_rows(pool_at(h2), b);
    dbgsite_drop_rows_again(pool_at(h2), b);
    CHECK(error_contains(pool_at(h2), "was already freed (double free) (pool '2')"));
    CHECK_EQ(dynoffheap_bridge_pool_close(h2), 0);
    debug_mode(was);
}

/* A thread the JVM did not start allocates, leaks and frees twice. */
struct site_thread {
    dynoffheap_pool *pool;
    void *leaked;
};

static void *site_thread_main(void *arg)
{
    struct site_thread *t = arg;
    t->leaked = dbgsite_make_index(t->pool, 3000);
    void *a = dbgsite_make_rows(t->pool, 48);
    dbgsite_drop_rows(t->pool, a);
    dbgsite_drop_rows_again(t->pool, a);
    return NULL;
}

static void test_sites_from_a_thread_the_jvm_did_not_start(void)
{
    fj_reset();
    int was = debug_mode(1);
    int64_t h = fj_pool(1, MiB);
    struct site_thread t = {pool_at(h), NULL};
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, site_thread_main, &t) == 0);
    pthread_join(tid, NULL);
    CHECK(t.leaked != NULL);
    char first[DYNOFFHEAP_ERROR_MAX];
    CHECK_EQ(dynoffheap_bridge_pool_misuses(h, first, sizeof first), 1);
    CHECK(text_has(first, "was already freed (double free): allocated at dbgsite_make_rows+0x"));
    CHECK(text_has(first, "first freed at dbgsite_drop_rows+0x"));
    CHECK_EQ(dynoffheap_bridge_pool_close(h), 3000);
    char report[1024];
    leak_report(h, report, sizeof report);
    CHECK(text_has(report, "1 live allocation(s) of 3000 bytes"));
    CHECK(text_has(report, "\n    3000 bytes in 1 allocation(s) at dbgsite_make_index+0x"));
    dynoffheap_free_sized(pool_at(h), t.leaked, 3000);
    debug_mode(was);
}

int main(void)
{
    static const struct tk_test tests[] = {
        {"abi and wrappers on NULL", test_abi_and_wrappers_on_null},
        {"create rejects bad block sizes", test_create_rejects_bad_block_sizes},
        {"alloc/free single", test_alloc_free_single},
        {"peak exact single thread", test_peak_is_exact_single_thread},
        {"aligned allocations", test_aligned_allocations},
        {"bad alignment", test_bad_alignment},
        {"zero and overflowing sizes", test_zero_and_overflowing_sizes},
        {"realloc", test_realloc},
        {"realloc denied keeps old block", test_realloc_denied_keeps_old_block},
        {"free NULL is a no-op", test_free_null_is_noop},
        {"double free detected in debug mode", test_double_free_detected_in_debug_mode},
        {"sized misuse detected in debug mode", test_sized_misuse_detected_in_debug_mode},
        {"misuse caught always", test_misuse_caught_always},
        {"large sized misuse caught always", test_large_sized_misuse_caught_always},
        {"bad arguments name the limit", test_bad_arguments_name_the_limit},
        {"foreign pointers detected", test_foreign_pointers_detected},
        {"error text api", test_error_text_api},
        {"large allocation reserves rounded blocks", test_large_allocation_reserves_rounded_blocks},
        {"block accounting exact", test_block_accounting_exact},
        {"hysteresis limits callbacks", test_hysteresis_limits_callbacks},
        {"denial rolls back", test_denial_rolls_back},
        {"no callbacks means denied", test_no_callbacks_means_denied},
        {"explicit reserve/release", test_explicit_reserve_release},
        {"spill calls native and releases blocks", test_spill_calls_native_and_releases_blocks},
        {"unregistering waits for a spill in flight", test_unregistering_waits_for_spill_in_flight},
        {"spill function may unregister itself", test_spill_function_may_unregister_itself},
        {"close reports leaks and refuses use", test_close_reports_leaks_and_refuses_use},
        {"closed pools quarantined", test_closed_pools_quarantined},
        {"stale handle after many closes", test_stale_handle_after_many_closes},
        {"sized alloc/free", test_sized_alloc_free},
        {"sized denial rolls back", test_sized_denial_rolls_back},
        {"sized free rejects impossible input", test_sized_free_rejects_impossible_input},
        {"sized on a closed pool", test_sized_on_closed_pool},
        {"thread storm exact accounting", test_thread_storm_exact_accounting},
        {"thread storm under budget", test_thread_storm_under_budget},
        {"cross-thread free", test_cross_thread_free},
        {"sweeps race the fast path", test_sweeps_race_the_fast_path},
        {"more threads than slots", test_more_threads_than_slots},
        {"thread exit hands over records", test_thread_exit_hands_over_records},
        {"one thread, two pools", test_one_thread_two_pools},
        {"close races allocating threads", test_close_races_allocating_threads},
        {"leak report names allocation sites", test_leak_report_names_allocation_sites},
        {"leak report keeps the largest ten sites", test_leak_report_keeps_the_largest_ten_sites},
        {"double free names allocation and first free", test_double_free_names_allocation_and_first_free},
        {"sites from a thread the JVM did not start", test_sites_from_a_thread_the_jvm_did_not_start},
    };
    return tk_run(tests, sizeof tests / sizeof tests[0]);
}

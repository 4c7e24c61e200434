/*
 * sample_sort_check.c - C tests of the sample operator without a JVM.
 *
 * A fake pool stands in for libdynoffheap: it implements the function table of dynoffheap.h
 * with malloc, counts the bytes in use, denies allocations beyond a limit (as the JVM denies a
 * reservation that does not fit the budget) and calls the registered spill function when a
 * test asks (as the JVM does when Spark needs memory). Built with AddressSanitizer and
 * UndefinedBehaviorSanitizer by the Makefile and run by Maven in the test phase.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dynoffheap.h"
#include "sample_sort.h"

/* ---- the fake pool ------------------------------------------------------------------------- */

struct fake_pool {
    struct dynoffheap_pool pub; /* first: the handle points here */
    pthread_mutex_t lock;
    int64_t used;
    int64_t peak;
    int64_t limit;
    int64_t denials;
    dynoffheap_spill_fn spill;
    void *spill_ctx;
    char error[DYNOFFHEAP_ERROR_MAX];
};

#define HEADER 16 /* like the real pool: a header before every allocation, holding its size */

static struct fake_pool *fake(dynoffheap_pool *pool)
{
    return (struct fake_pool *)pool;
}

static void *fake_alloc(dynoffheap_pool *pool, size_t size)
{
    struct fake_pool *p = fake(pool);
    if (size == 0)
        return NULL;
    int64_t charge = (int64_t)size + HEADER;
    pthread_mutex_lock(&p->lock);
    if (p->used + charge > p->limit) {
        p->denials++;
        snprintf(p->error, sizeof p->error, "fake pool: %lld bytes denied (used %lld of %lld)",
                 (long long)charge, (long long)p->used, (long long)p->limit);
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
    p->used += charge;
    if (p->used > p->peak)
        p->peak = p->used;
    pthread_mutex_unlock(&p->lock);
    unsigned char *raw = malloc((size_t)charge);
    if (raw == NULL)
        abort();
    memcpy(raw, &charge, sizeof charge);
    return raw + HEADER;
}

static void fake_free(dynoffheap_pool *pool, void *ptr)
{
    struct fake_pool *p = fake(pool);
    if (ptr == NULL)
        return;
    unsigned char *raw = (unsigned char *)ptr - HEADER;
    int64_t charge;
    memcpy(&charge, raw, sizeof charge);
    pthread_mutex_lock(&p->lock);
    p->used -= charge;
    pthread_mutex_unlock(&p->lock);
    free(raw);
}

static void *fake_alloc_aligned(dynoffheap_pool *pool, size_t alignment, size_t size)
{
    return alignment <= 16 ? fake_alloc(pool, size) : NULL;
}

static void *fake_realloc(dynoffheap_pool *pool, void *ptr, size_t size)
{
    if (ptr == NULL)
        return fake_alloc(pool, size);
    if (size == 0) {
        fake_free(pool, ptr);
        return NULL;
    }
    int64_t charge;
    memcpy(&charge, (unsigned char *)ptr - HEADER, sizeof charge);
    void *moved = fake_alloc(pool, size);
    if (moved == NULL)
        return NULL;
    size_t old = (size_t)(charge - HEADER);
    memcpy(moved, ptr, old < size ? old : size);
    fake_free(pool, ptr);
    return moved;
}

static int fake_reserve(dynoffheap_pool *pool, int64_t bytes)
{
    (void)pool;
    (void)bytes;
    return -1;
}

static void fake_release(dynoffheap_pool *pool, int64_t bytes)
{
    (void)pool;
    (void)bytes;
}

static int64_t fake_used(dynoffheap_pool *pool)
{
    struct fake_pool *p = fake(pool);
    pthread_mutex_lock(&p->lock);
    int64_t used = p->used;
    pthread_mutex_unlock(&p->lock);
    return used;
}

static int64_t fake_peak(dynoffheap_pool *pool)
{
    return fake(pool)->peak;
}

static size_t fake_last_error(dynoffheap_pool *pool, char *buf, size_t len)
{
    struct fake_pool *p = fake(pool);
    pthread_mutex_lock(&p->lock);
    size_t n = strlen(p->error);
    if (buf != NULL && len > 0) {
        size_t copy = n < len - 1 ? n : len - 1;
        memcpy(buf, p->error, copy);
        buf[copy] = '\0';
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void fake_set_spill(dynoffheap_pool *pool, dynoffheap_spill_fn spill, void *ctx)
{
    struct fake_pool *p = fake(pool);
    pthread_mutex_lock(&p->lock);
    p->spill = spill;
    p->spill_ctx = ctx;
    pthread_mutex_unlock(&p->lock);
}

/* What the JVM does on a spill request: read the function under the lock, call it outside. */
static int64_t fake_spill(struct fake_pool *p, int64_t bytes)
{
    pthread_mutex_lock(&p->lock);
    dynoffheap_spill_fn spill = p->spill;
    void *ctx = p->spill_ctx;
    pthread_mutex_unlock(&p->lock);
    return spill != NULL ? spill(ctx, bytes) : 0;
}

static const struct dynoffheap_pool_ops fake_ops = {
    .abi_version = DYNOFFHEAP_ABI_VERSION,
    .ops_size = sizeof(struct dynoffheap_pool_ops),
    .alloc = fake_alloc,
    .alloc_aligned = fake_alloc_aligned,
    .realloc = fake_realloc,
    .free = fake_free,
    .reserve = fake_reserve,
    .release = fake_release,
    .used = fake_used,
    .peak = fake_peak,
    .reserved = fake_used,
    .last_error = fake_last_error,
    .set_spill = fake_set_spill,
};

static void fake_init(struct fake_pool *p, int64_t limit)
{
    memset(p, 0, sizeof *p);
    p->pub.ops = &fake_ops;
    pthread_mutex_init(&p->lock, NULL);
    p->limit = limit;
}

static int64_t handle_of(struct fake_pool *p)
{
    return (int64_t)(uintptr_t)&p->pub;
}

/* ---- test kit ------------------------------------------------------------------------------ */

static int g_failures;
static char g_dir[256];

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            g_failures++;                                                                  \
        }                                                                                  \
    } while (0)

static uint64_t g_rng;

static int64_t next_key(int64_t modulo)
{
    g_rng += 0x9E3779B97F4A7C15ull;
    uint64_t z = g_rng;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return modulo > 0 ? (int64_t)(z % (uint64_t)modulo) - modulo / 2 : (int64_t)z;
}

static int compare_keys(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int count_run_files(void)
{
    char command[512];
    snprintf(command, sizeof command, "ls %s | grep -c '\\.run$'", g_dir);
    FILE *ls = popen(command, "r");
    int n = 0;
    if (ls != NULL) {
        if (fscanf(ls, "%d", &n) != 1)
            n = -1;
        pclose(ls);
    }
    return n;
}

/* Reads everything out and compares it with the sorted keys. */
static void check_output(int64_t sorter, const int64_t *keys, int64_t n, const char *name)
{
    int64_t *expected = malloc(sizeof *expected * (size_t)(n > 0 ? n : 1));
    memcpy(expected, keys, sizeof *expected * (size_t)n);
    qsort(expected, (size_t)n, sizeof *expected, compare_keys);
    int64_t total = samplesort_finish(sorter);
    CHECK(total == n, "%s: finish returned %lld, expected %lld", name, (long long)total,
          (long long)n);
    int64_t out[1000], seen = 0, mismatches = 0;
    for (;;) {
        int64_t got = samplesort_next(sorter, out, 1000);
        CHECK(got >= 0, "%s: next failed", name);
        if (got <= 0)
            break;
        for (int64_t i = 0; i < got; i++, seen++)
            if (seen >= n || out[i] != expected[seen])
                mismatches++;
    }
    CHECK(seen == n, "%s: %lld keys out, expected %lld", name, (long long)seen, (long long)n);
    CHECK(mismatches == 0, "%s: %lld keys out of order or wrong", name, (long long)mismatches);
    CHECK(samplesort_payload_errors(sorter) == 0, "%s: payload errors", name);
    CHECK(samplesort_next(sorter, out, 1000) == 0, "%s: next after the end", name);
    free(expected);
}

static int64_t *make_keys(int64_t n, int64_t modulo)
{
    int64_t *keys = malloc(sizeof *keys * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        keys[i] = next_key(modulo);
    return keys;
}

static void add_in_batches(int64_t sorter, const int64_t *keys, int64_t n, int64_t batch,
                           const char *name)
{
    for (int64_t off = 0; off < n; off += batch) {
        int64_t take = n - off < batch ? n - off : batch;
        int64_t rc = samplesort_add(sorter, keys + off, take);
        CHECK(rc == 0, "%s: add at %lld returned %lld", name, (long long)off, (long long)rc);
        if (rc != 0)
            return;
    }
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_in_memory(int32_t record_bytes, int32_t threads, int64_t n, int64_t modulo)
{
    char name[128];
    snprintf(name, sizeof name, "in memory (record %d, threads %d, n %lld, modulo %lld)",
             record_bytes, threads, (long long)n, (long long)modulo);
    struct fake_pool pool;
    fake_init(&pool, INT64_MAX);
    int64_t *keys = make_keys(n, modulo);
    int64_t s = samplesort_create(handle_of(&pool), record_bytes, 0, g_dir, threads);
    CHECK(s != 0, "%s: create", name);
    add_in_batches(s, keys, n, 50000, name);
    CHECK(pool.used >= n * record_bytes, "%s: used %lld below the records' size", name,
          (long long)pool.used);
    check_output(s, keys, n, name);
    CHECK(samplesort_spills(s) == 0, "%s: spilled", name);
    if (threads > 1 && n > 0)
        CHECK(samplesort_worker_chunks(s) > 0, "%s: no chunk filled by a worker", name);
    samplesort_destroy(s);
    CHECK(pool.used == 0, "%s: %lld bytes still used after destroy", name, (long long)pool.used);
    free(keys);
}

/* The baseline pool (malloc_pool.c): the same sort on plain malloc, every byte given back. */
static void test_malloc_pool(int32_t threads)
{
    char name[64];
    snprintf(name, sizeof name, "malloc pool (threads %d)", threads);
    dynoffheap_pool *pool = dynoffheap_pool_from_handle(samplesort_malloc_pool());
    CHECK(dynoffheap_abi_compatible(pool), "%s: not a compatible pool", name);
    int64_t used_before = dynoffheap_used(pool);
    int64_t n = 200000;
    int64_t *keys = make_keys(n, 0);
    int64_t s = samplesort_create(samplesort_malloc_pool(), 64, 0, g_dir, threads);
    CHECK(s != 0, "%s: create", name);
    add_in_batches(s, keys, n, 50000, name);
    CHECK(dynoffheap_used(pool) - used_before >= n * 64, "%s: used %lld below the records' size",
          name, (long long)(dynoffheap_used(pool) - used_before));
    check_output(s, keys, n, name);
    samplesort_destroy(s);
    CHECK(dynoffheap_used(pool) == used_before, "%s: %lld bytes still used after destroy", name,
          (long long)(dynoffheap_used(pool) - used_before));
    CHECK(dynoffheap_peak(pool) >= n * 64, "%s: peak %lld", name, (long long)dynoffheap_peak(pool));
    free(keys);
}

static void test_denial_spills_and_retries(int32_t threads)
{
    const char *name = "denial makes the sorter spill itself";
    struct fake_pool pool;
    fake_init(&pool, 24 << 20); /* 24 MiB for ~64 MiB of records */
    int64_t n = 1000000;
    int64_t *keys = make_keys(n, 0);
    int64_t s = samplesort_create(handle_of(&pool), 64, 1, g_dir, threads);
    add_in_batches(s, keys, n, 65536, name);
    CHECK(samplesort_spills(s) >= 2, "%s: %lld spills", name, (long long)samplesort_spills(s));
    CHECK(pool.peak <= pool.limit, "%s: over the limit", name);
    CHECK(count_run_files() == samplesort_spills(s), "%s: %d run files", name, count_run_files());
    check_output(s, keys, n, name);
    samplesort_destroy(s);
    CHECK(pool.used == 0, "%s: %lld bytes left", name, (long long)pool.used);
    CHECK(count_run_files() == 0, "%s: run files left after destroy", name);
    free(keys);
}

static void test_denial_without_spill_fails(void)
{
    const char *name = "denial without spilling fails the add";
    struct fake_pool pool;
    fake_init(&pool, 8 << 20);
    int64_t n = 500000;
    int64_t *keys = make_keys(n, 0);
    int64_t s = samplesort_create(handle_of(&pool), 64, 0, g_dir, 1);
    int64_t rc = 0;
    for (int64_t off = 0; off < n && rc == 0; off += 65536)
        rc = samplesort_add(s, keys + off, n - off < 65536 ? n - off : 65536);
    CHECK(rc == -1, "%s: add returned %lld", name, (long long)rc);
    char error[1024];
    samplesort_last_error(s, error, sizeof error);
    CHECK(strstr(error, "fake pool:") != NULL, "%s: error text '%s'", name, error);
    CHECK(strstr(error, "spilling not allowed") != NULL, "%s: error text '%s'", name, error);
    CHECK(samplesort_spills(s) == 0, "%s: spilled", name);
    samplesort_destroy(s);
    CHECK(pool.used == 0, "%s: %lld bytes left", name, (long long)pool.used);
    free(keys);
}

struct spiller {
    struct fake_pool *pool;
    _Atomic int stop;
    int64_t calls;
    int64_t freed;
};

static void *spiller_main(void *arg)
{
    struct spiller *sp = arg;
    while (!atomic_load(&sp->stop)) {
        sp->freed += fake_spill(sp->pool, 1 << 20);
        sp->calls++;
        usleep(200);
    }
    return NULL;
}

static void test_concurrent_jvm_spills(int32_t threads)
{
    const char *name = "spill requests from another thread while adding";
    struct fake_pool pool;
    fake_init(&pool, INT64_MAX);
    int64_t n = 600000;
    int64_t *keys = make_keys(n, 1000);
    int64_t s = samplesort_create(handle_of(&pool), 32, 0, g_dir, threads);
    struct spiller sp = {.pool = &pool};
    atomic_init(&sp.stop, 0);
    pthread_t tid;
    pthread_create(&tid, NULL, spiller_main, &sp);
    /* Like a task thread, do other work between batches: that is when a spill can happen. */
    for (int64_t off = 0; off < n; off += 2000) {
        CHECK(samplesort_add(s, keys + off, n - off < 2000 ? n - off : 2000) == 0, "%s: add", name);
        usleep(50);
    }
    atomic_store(&sp.stop, 1);
    pthread_join(tid, NULL);
    CHECK(samplesort_spill_requests(s) == sp.calls, "%s: %lld requests, %lld calls", name,
          (long long)samplesort_spill_requests(s), (long long)sp.calls);
    CHECK(samplesort_spills(s) > 0, "%s: no spill (%lld calls)", name, (long long)sp.calls);
    CHECK(sp.freed > 0, "%s: nothing freed", name);
    printf("%s (threads %d): %lld requests, %lld spills, %lld busy\n", name, threads,
           (long long)sp.calls, (long long)samplesort_spills(s), (long long)samplesort_busy_spills(s));
    check_output(s, keys, n, name);
    /* In the merge phase a spill request frees nothing. */
    samplesort_destroy(s);
    CHECK(pool.used == 0, "%s: %lld bytes left", name, (long long)pool.used);
    free(keys);
}

static void test_spill_during_destroy(void)
{
    const char *name = "spill requests racing destroy";
    for (int round = 0; round < 50; round++) {
        struct fake_pool pool;
        fake_init(&pool, INT64_MAX);
        int64_t keys[3000];
        for (int i = 0; i < 3000; i++)
            keys[i] = next_key(0);
        int64_t s = samplesort_create(handle_of(&pool), 16, 0, g_dir, 1);
        samplesort_add(s, keys, 3000);
        struct spiller sp = {.pool = &pool};
        atomic_init(&sp.stop, 0);
        pthread_t tid;
        pthread_create(&tid, NULL, spiller_main, &sp);
        usleep((useconds_t)(round * 20));
        samplesort_destroy(s); /* spiller keeps calling with the stale context */
        usleep(500);
        atomic_store(&sp.stop, 1);
        pthread_join(tid, NULL);
        CHECK(pool.used == 0, "%s: %lld bytes left", name, (long long)pool.used);
    }
    CHECK(count_run_files() == 0, "%s: run files left", name);
}

static void test_bad_arguments(void)
{
    struct fake_pool pool;
    fake_init(&pool, INT64_MAX);
    int64_t h = handle_of(&pool);
    CHECK(samplesort_create(0, 64, 0, g_dir, 1) == 0, "pool 0");
    CHECK(samplesort_create(h, 12, 0, g_dir, 1) == 0, "record size 12");
    CHECK(samplesort_create(h, 8192, 0, g_dir, 1) == 0, "record size 8192");
    CHECK(samplesort_create(h, 64, 0, g_dir, 0) == 0, "0 threads");
    int64_t s = samplesort_create(h, 64, 0, NULL, 1);
    CHECK(s != 0, "no spill dir");
    int64_t key = 5;
    CHECK(samplesort_add(s, &key, 1) == 0, "add");
    CHECK(fake_spill(&pool, 100) == 0, "a sorter without spill dir cannot spill");
    CHECK(samplesort_next(s, &key, 1) == -1, "next before finish");
    CHECK(samplesort_finish(s) == 1, "finish");
    CHECK(samplesort_add(s, &key, 1) == -1, "add after finish");
    char error[256];
    CHECK(samplesort_last_error(s, error, sizeof error) > 0 && strstr(error, "finish") != NULL,
          "error text '%s'", error);
    CHECK(samplesort_finish(s) == -1, "finish twice");
    samplesort_destroy(s);
    CHECK(pool.used == 0, "bad arguments: %lld bytes left", (long long)pool.used);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/samplesort-check-%ld",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp", (long)getpid());
    if (mkdir(g_dir, 0700) != 0) {
        perror(g_dir);
        return 2;
    }
    g_rng = 42;

    test_in_memory(64, 1, 0, 0);
    test_in_memory(64, 1, 1, 0);
    test_in_memory(8, 1, 300000, 0);
    test_in_memory(64, 1, 300000, 10); /* many duplicates */
    test_in_memory(64, 4, 300000, 0);
    test_in_memory(4096, 4, 3000, 0);
    test_in_memory(24, 3, 200000, 0); /* records not a divisor of the chunk size */
    test_malloc_pool(1);
    test_malloc_pool(4);
    test_denial_spills_and_retries(1);
    test_denial_spills_and_retries(4);
    test_denial_without_spill_fails();
    test_concurrent_jvm_spills(1);
    test_concurrent_jvm_spills(4);
    test_spill_during_destroy();
    test_bad_arguments();

    rmdir(g_dir);
    if (g_failures > 0) {
        fprintf(stderr, "sample_sort_check: %d check(s) failed\n", g_failures);
        return 1;
    }
    printf("sample_sort_check: all checks passed\n");
    return 0;
}

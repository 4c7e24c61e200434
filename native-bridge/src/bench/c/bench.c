/*
 * bench.c - pool alloc+free against plain glibc malloc+free (`make bench`).
 *
 * One process. For each size (64 B, 4 KiB, 64 KiB) and thread count (1, 2) it runs the
 * same number of operations per thread three ways: with malloc/free; with the pool's
 * sized calls dynoffheap_alloc_sized/dynoffheap_free_sized, which a native user who
 * cares about speed calls (the caller knows the size, as Arrow's and C++'s allocators
 * do); and with the header-carrying dynoffheap_alloc/dynoffheap_free. Both pool variants
 * use one shared pool (8 MiB blocks, the Java side's default) whose JVM callbacks are a
 * fake JVM that only counts. One operation is an allocation, a write to its first byte,
 * and the free. Each measurement is repeated 7 times, the three ways alternating.
 * The table shows the best (lowest) round of each, the least disturbed one on a shared
 * machine, and the medians for comparison; the target applies to the sized calls.
 *
 *   ns/op      wall time of a round divided by the operations of one thread
 *   ratio      pool ns/op / malloc ns/op
 *   cb/GiB     JVM callbacks (reserve + release) per GiB allocated through the pool
 *
 * DYNOFFHEAP_BENCH_ROUNDS and DYNOFFHEAP_BENCH_OPS in the environment replace the 7
 * rounds and the 2,000,000 operations per thread: many short rounds (say 150 of 200,000)
 * give a best figure that a loaded machine disturbs far less, since most rounds then fit
 * in one time slice.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dynoffheap.h"
#include "dynoffheap_bridge.h"

#define DEFAULT_OPS 2000000
#define DEFAULT_ROUNDS 7
#define MAX_ROUNDS 1000
#define BLOCK_SIZE ((int64_t)8 << 20)
#define MAX_THREADS 2

static int g_ops = DEFAULT_OPS; /* operations per thread and round */
static int g_rounds = DEFAULT_ROUNDS;

/* A positive integer from the environment up to `max`, else `fallback`. */
static int env_int(const char *name, int fallback, int max)
{
    const char *v = getenv(name);
    int n = v != NULL ? atoi(v) : 0;
    return n > 0 && n <= max ? n : fallback;
}

/* ---- fake JVM: grants everything, counts calls ---- */

static _Atomic int64_t g_callbacks;
static _Atomic int64_t g_jvm_total;

static int32_t bench_reserve(int64_t pool_id, int64_t bytes)
{
    (void)pool_id;
    atomic_fetch_add(&g_callbacks, 1);
    atomic_fetch_add(&g_jvm_total, bytes);
    return 1;
}

static void bench_release(int64_t pool_id, int64_t bytes)
{
    (void)pool_id;
    atomic_fetch_add(&g_callbacks, 1);
    atomic_fetch_sub(&g_jvm_total, bytes);
}

/* ---- workers ---- */

enum way { WAY_MALLOC, WAY_SIZED, WAY_HEADER, WAYS };

struct run {
    enum way way;
    dynoffheap_pool *pool;
    size_t size;
    _Atomic int ready;
    _Atomic int go;
};

static void *worker(void *arg)
{
    struct run *r = arg;
    atomic_fetch_add(&r->ready, 1);
    while (!atomic_load(&r->go)) {
    }
    dynoffheap_pool *pool = r->pool;
    size_t size = r->size;
    int ops = g_ops;
    switch (r->way) {
    case WAY_MALLOC:
        for (int i = 0; i < ops; i++) {
            volatile char *p = malloc(size);
            if (p == NULL)
                abort();
            p[0] = 1;
            free((void *)p);
        }
        break;
    case WAY_SIZED:
        for (int i = 0; i < ops; i++) {
            volatile char *p = dynoffheap_alloc_sized(pool, size);
            if (p == NULL)
                abort();
            p[0] = 1;
            dynoffheap_free_sized(pool, (void *)p, size);
        }
        break;
    default:
        for (int i = 0; i < ops; i++) {
            volatile char *p = dynoffheap_alloc(pool, size);
            if (p == NULL)
                abort();
            p[0] = 1;
            dynoffheap_free(pool, (void *)p);
        }
        break;
    }
    return NULL;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs one measurement; returns ns per operation of one thread. */
static double measure(enum way way, dynoffheap_pool *pool, size_t size, int threads)
{
    struct run r = {.way = way, .pool = pool, .size = size};
    pthread_t tids[MAX_THREADS];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tids[t], NULL, worker, &r) != 0)
            abort();
    while (atomic_load(&r.ready) < threads) {
    }
    double start = now_ns();
    atomic_store(&r.go, 1);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    return (now_ns() - start) / g_ops;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median; v[0] is then the minimum. */
static double sort_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}

/* Prints one half of a row: malloc ns/op, then ns/op and ratio of each pool way. */
static void print_figures(const double ns[WAYS])
{
    printf(" %8.1f %7.1f %5.2f %7.1f %5.2f |", ns[WAY_MALLOC], ns[WAY_SIZED],
           ns[WAY_SIZED] / ns[WAY_MALLOC], ns[WAY_HEADER], ns[WAY_HEADER] / ns[WAY_MALLOC]);
}

int main(void)
{
    g_ops = env_int("DYNOFFHEAP_BENCH_OPS", DEFAULT_OPS, 1000000000);
    g_rounds = env_int("DYNOFFHEAP_BENCH_ROUNDS", DEFAULT_ROUNDS, MAX_ROUNDS);
    dynoffheap_bridge_set_callbacks(bench_reserve, bench_release);
    const size_t sizes[] = {64, 4096, 65536};
    const char *size_names[] = {"64 B", "4 KiB", "64 KiB"};
    const int thread_counts[] = {1, 2};

    printf("dynoffheap pool vs glibc malloc: alloc + 1-byte write + free, %d ops per thread,\n"
           "best and median of %d rounds, one shared pool per row with %lld MiB blocks, fake "
           "JVM callbacks.\n"
           "sized: dynoffheap_alloc_sized + dynoffheap_free_sized (no header; the calls for "
           "speed, the target's subject)\n"
           "header: dynoffheap_alloc + dynoffheap_free (16-byte header, free needs no size)\n\n",
           g_ops, g_rounds, (long long)(BLOCK_SIZE >> 20));
    printf("%-7s %7s | %-36s | %-36s | %8s\n", "", "", "best ns/op and ratio to malloc",
           "median ns/op and ratio to malloc", "");
    printf("%-7s %7s | %8s %7s %5s %7s %5s | %8s %7s %5s %7s %5s | %8s\n", "size", "threads",
           "malloc", "sized", "ratio", "header", "ratio", "malloc", "sized", "ratio", "header",
           "ratio", "cb/GiB");

    int worst_ok = 1;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (size_t ti = 0; ti < sizeof thread_counts / sizeof thread_counts[0]; ti++) {
            int threads = thread_counts[ti];
            int64_t handle = dynoffheap_bridge_pool_create(1, BLOCK_SIZE);
            dynoffheap_pool *pool = dynoffheap_pool_from_handle(handle);
            double ns[WAYS][MAX_ROUNDS];
            atomic_store(&g_callbacks, 0);
            for (int round = 0; round < g_rounds; round++)
                for (int way = 0; way < WAYS; way++)
                    ns[way][round] = measure((enum way)way, pool, sizes[si], threads);
            int64_t callbacks = atomic_load(&g_callbacks);
            int64_t leaked = dynoffheap_bridge_pool_close(handle);
            double gib = (double)sizes[si] * g_ops * threads * g_rounds * 2 /
                         (double)(1LL << 30);
            double best[WAYS], median[WAYS];
            for (int way = 0; way < WAYS; way++) {
                median[way] = sort_median(ns[way], g_rounds);
                best[way] = ns[way][0];
            }
            printf("%-7s %7d |", size_names[si], threads);
            print_figures(best);
            print_figures(median);
            printf(" %8.3f\n", (double)callbacks / gib);
            if (leaked != 0 || atomic_load(&g_jvm_total) != 0) {
                printf("accounting error: leaked %lld, JVM total %lld\n", (long long)leaked,
                       (long long)atomic_load(&g_jvm_total));
                return 1;
            }
            worst_ok &= best[WAY_SIZED] / best[WAY_MALLOC] <= 1.25;
        }
    }
    printf("\ntarget best ratio of the sized calls <= 1.25: %s\n",
           worst_ok ? "met in every row" : "NOT met in every row");
    return 0;
}

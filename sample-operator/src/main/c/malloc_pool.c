/*
 * malloc_pool.c - the baseline without the plugin: a pool whose function table is plain malloc.
 *
 * The benchmarks compare the sample operator with the plugin against the same operator with no
 * plugin at all. So that the comparison measures the plugin and nothing else, the baseline runs
 * the very same sorter code over a pool of this file instead of a pool of libdynoffheap: every
 * dynoffheap_alloc() is one malloc(), every dynoffheap_free() one free(), nothing is reserved
 * from a JVM and nothing is ever denied (only a failing malloc returns NULL).
 *
 * Bookkeeping is what a malloc wrapper needs and no more: one atomic counter of the bytes in use
 * (malloc_usable_size of each live block) and a peak raised by compare-and-swap, so
 * samplesort's statistics and dynoffheap_used() keep their meaning. There is no spill function:
 * nobody asks this pool for memory back. One pool exists per process, shared by every sorter.
 */
#define _GNU_SOURCE

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynoffheap.h"
#include "sample_sort.h"

#define EXPORT __attribute__((visibility("default")))

static atomic_int_fast64_t used_bytes;
static atomic_int_fast64_t peak_bytes;

/* Adds delta to the bytes in use and raises the peak. */
static void add_used(int64_t delta)
{
    int64_t now = atomic_fetch_add(&used_bytes, delta) + delta;
    int64_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {
    }
}

static int64_t block_bytes(void *ptr)
{
    return ptr != NULL ? (int64_t)malloc_usable_size(ptr) : 0;
}

static void *plain_alloc(dynoffheap_pool *pool, size_t size)
{
    (void)pool;
    if (size == 0)
        return NULL;
    void *p = malloc(size);
    add_used(block_bytes(p));
    return p;
}

static void *plain_alloc_aligned(dynoffheap_pool *pool, size_t alignment, size_t size)
{
    (void)pool;
    if (size == 0 || alignment > DYNOFFHEAP_MAX_ALIGNMENT || (alignment & (alignment - 1)) != 0)
        return NULL;
    void *p = NULL;
    if (posix_memalign(&p, alignment < 16 ? 16 : alignment, size) != 0)
        return NULL;
    add_used(block_bytes(p));
    return p;
}

static void plain_free(dynoffheap_pool *pool, void *ptr)
{
    (void)pool;
    add_used(-block_bytes(ptr));
    free(ptr);
}

/* The sized calls: allocations are the same, the size passed to the free is not needed. */
static void plain_free_sized(dynoffheap_pool *pool, void *ptr, size_t size)
{
    (void)size;
    plain_free(pool, ptr);
}

static void *plain_realloc(dynoffheap_pool *pool, void *ptr, size_t size)
{
    if (ptr == NULL)
        return plain_alloc(pool, size);
    if (size == 0) {
        plain_free(pool, ptr);
        return NULL;
    }
    int64_t before = block_bytes(ptr);
    void *moved = realloc(ptr, size);
    if (moved != NULL)
        add_used(block_bytes(moved) - before);
    return moved;
}

static int plain_reserve(dynoffheap_pool *pool, int64_t bytes)
{
    (void)pool;
    if (bytes < 0)
        return -1;
    add_used(bytes);
    return 0;
}

static void plain_release(dynoffheap_pool *pool, int64_t bytes)
{
    (void)pool;
    add_used(-bytes);
}

static int64_t plain_used(dynoffheap_pool *pool)
{
    (void)pool;
    return atomic_load(&used_bytes);
}

static int64_t plain_peak(dynoffheap_pool *pool)
{
    (void)pool;
    return atomic_load(&peak_bytes);
}

static int64_t plain_reserved(dynoffheap_pool *pool)
{
    (void)pool;
    return 0;
}

static size_t plain_last_error(dynoffheap_pool *pool, char *buf, size_t len)
{
    (void)pool;
    static const char text[] = "malloc returned NULL";
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s", text);
    return strlen(text);
}

static void plain_set_spill(dynoffheap_pool *pool, dynoffheap_spill_fn spill, void *ctx)
{
    (void)pool;
    (void)spill;
    (void)ctx;
}

static const struct dynoffheap_pool_ops plain_ops = {
    .abi_version = DYNOFFHEAP_ABI_VERSION,
    .ops_size = sizeof(struct dynoffheap_pool_ops),
    .alloc = plain_alloc,
    .alloc_aligned = plain_alloc_aligned,
    .realloc = plain_realloc,
    .free = plain_free,
    .reserve = plain_reserve,
    .release = plain_release,
    .used = plain_used,
    .peak = plain_peak,
    .reserved = plain_reserved,
    .last_error = plain_last_error,
    .set_spill = plain_set_spill,
    .alloc_sized = plain_alloc,
    .alloc_sized_aligned = plain_alloc_aligned,
    .free_sized = plain_free_sized,
};

static struct dynoffheap_pool plain_pool = {.ops = &plain_ops};

EXPORT int64_t samplesort_malloc_pool(void)
{
    return (int64_t)(uintptr_t)&plain_pool;
}

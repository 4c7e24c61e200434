/*
 * testops.c - libdynoffheap_testops.so, a stand-in "native engine" for the Java tests.
 *
 * It includes only the public header dynoffheap.h and is not linked against
 * libdynoffheap.so: it reaches the pool through the function table behind the handle,
 * exactly as a real native library would. The Java tests call these functions through
 * JNA direct mapping, passing pool handles as longs.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dynoffheap.h"

#define EXPORT __attribute__((visibility("default")))

/* Nonzero when the handle's pool speaks the ABI this library was compiled against. */
EXPORT int32_t testops_abi_ok(int64_t handle)
{
    return dynoffheap_abi_compatible(dynoffheap_pool_from_handle(handle));
}

/* Allocates `bytes` and touches them; returns the pointer as a long, 0 on failure. */
EXPORT int64_t testops_alloc(int64_t handle, int64_t bytes)
{
    if (bytes < 0)
        return 0;
    void *p = dynoffheap_alloc(dynoffheap_pool_from_handle(handle), (size_t)bytes);
    if (p != NULL)
        memset(p, 0x42, (size_t)bytes);
    return (int64_t)(uintptr_t)p;
}

EXPORT void testops_free(int64_t handle, int64_t ptr)
{
    dynoffheap_free(dynoffheap_pool_from_handle(handle), (void *)(uintptr_t)ptr);
}

EXPORT int32_t testops_reserve(int64_t handle, int64_t bytes)
{
    return dynoffheap_reserve(dynoffheap_pool_from_handle(handle), bytes);
}

EXPORT void testops_release(int64_t handle, int64_t bytes)
{
    dynoffheap_release(dynoffheap_pool_from_handle(handle), bytes);
}

EXPORT int64_t testops_alloc_sized(int64_t handle, int64_t bytes)
{
    if (bytes < 0)
        return 0;
    void *p = dynoffheap_alloc_sized(dynoffheap_pool_from_handle(handle), (size_t)bytes);
    if (p != NULL)
        memset(p, 0x42, (size_t)bytes);
    return (int64_t)(uintptr_t)p;
}

EXPORT void testops_free_sized(int64_t handle, int64_t ptr, int64_t bytes)
{
    dynoffheap_free_sized(dynoffheap_pool_from_handle(handle), (void *)(uintptr_t)ptr,
                          (size_t)bytes);
}

/* ---- threads the JVM did not start ---- */

struct double_free {
    dynoffheap_pool *pool;
    size_t bytes;
    int sized;
    int allocated;
};

/* Allocates, frees, and frees the same pointer again: the bug of a native engine. */
static void *double_free_main(void *arg)
{
    struct double_free *d = arg;
    void *p = d->sized ? dynoffheap_alloc_sized(d->pool, d->bytes)
                       : dynoffheap_alloc(d->pool, d->bytes);
    d->allocated = p != NULL;
    if (p == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        if (d->sized)
            dynoffheap_free_sized(d->pool, p, d->bytes);
        else
            dynoffheap_free(d->pool, p);
    }
    return NULL;
}

/* Runs double_free_main on a pthread; returns 0 when it allocated, -1 otherwise. */
EXPORT int32_t testops_double_free_on_thread(int64_t handle, int64_t bytes, int32_t sized)
{
    struct double_free d = {dynoffheap_pool_from_handle(handle), (size_t)bytes, sized, 0};
    pthread_t t;
    if (bytes <= 0 || pthread_create(&t, NULL, double_free_main, &d) != 0)
        return -1;
    pthread_join(t, NULL);
    return d.allocated ? 0 : -1;
}

struct thread_alloc {
    int64_t handle;
    int64_t bytes;
    int64_t ptr;
};

static void *thread_alloc_main(void *arg)
{
    struct thread_alloc *a = arg;
    a->ptr = testops_alloc(a->handle, a->bytes);
    return NULL;
}

/* On a pthread: testops_alloc(handle, bytes), whose pointer it returns (0 on failure). */
EXPORT int64_t testops_alloc_on_thread(int64_t handle, int64_t bytes)
{
    struct thread_alloc a = {handle, bytes, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, thread_alloc_main, &a) != 0)
        return 0;
    pthread_join(t, NULL);
    return a.ptr;
}

struct storm {
    dynoffheap_pool *pool;
    int per_thread;
    size_t bytes;
    int hold;
    _Atomic int64_t succeeded;
};

static void *storm_main(void *arg)
{
    struct storm *s = arg;
    void **held = calloc((size_t)s->per_thread, sizeof *held);
    if (held == NULL)
        return NULL;
    for (int i = 0; i < s->per_thread; i++) {
        void *p = dynoffheap_alloc(s->pool, s->bytes);
        if (p == NULL)
            continue;
        memset(p, 0x17, s->bytes);
        atomic_fetch_add(&s->succeeded, 1);
        if (s->hold)
            held[i] = p;
        else
            dynoffheap_free(s->pool, p);
    }
    for (int i = 0; i < s->per_thread; i++)
        dynoffheap_free(s->pool, held[i]);
    free(held);
    return NULL;
}

/*
 * Starts `threads` pthreads; each allocates `per_thread` blocks of `bytes` (keeping them
 * all until its loop ends when `hold` is nonzero, else freeing each at once), then frees
 * what it holds. Returns the number of allocations that succeeded, or -1 when a thread
 * could not be started.
 */
EXPORT int64_t testops_thread_storm(int64_t handle, int32_t threads, int32_t per_thread,
                                    int64_t bytes, int32_t hold)
{
    if (threads <= 0 || threads > 256 || per_thread < 0 || bytes <= 0)
        return -1;
    struct storm s = {.pool = dynoffheap_pool_from_handle(handle),
                      .per_thread = per_thread,
                      .bytes = (size_t)bytes,
                      .hold = hold};
    pthread_t tids[256];
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, storm_main, &s) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    return started == threads ? atomic_load(&s.succeeded) : -1;
}

/* ---- a spillable stash ---- */

/* Allocations the stash holds; its spill function frees them, newest first. */
static struct {
    pthread_mutex_t lock;
    dynoffheap_pool *pool;
    void **ptrs;
    int count;
    int64_t item_bytes;
    int64_t spill_calls;
    int64_t last_wanted;
} stash = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t stash_spill(void *ctx, int64_t bytes_wanted)
{
    (void)ctx;
    pthread_mutex_lock(&stash.lock);
    stash.spill_calls++;
    stash.last_wanted = bytes_wanted;
    int64_t freed = 0;
    while (stash.count > 0 && freed < bytes_wanted) {
        dynoffheap_free(stash.pool, stash.ptrs[--stash.count]);
        freed += stash.item_bytes;
    }
    pthread_mutex_unlock(&stash.lock);
    return freed;
}

/*
 * Empties the stash (freeing what it holds), then fills it with `count` allocations of
 * `bytes` from the pool and registers its spill function there. Returns the number of
 * allocations made.
 */
EXPORT int32_t testops_stash_fill(int64_t handle, int32_t count, int64_t bytes)
{
    dynoffheap_pool *pool = dynoffheap_pool_from_handle(handle);
    pthread_mutex_lock(&stash.lock);
    while (stash.count > 0)
        dynoffheap_free(stash.pool, stash.ptrs[--stash.count]);
    free(stash.ptrs);
    stash.ptrs = calloc(count > 0 ? (size_t)count : 1, sizeof *stash.ptrs);
    stash.pool = pool;
    stash.item_bytes = bytes;
    stash.spill_calls = 0;
    stash.last_wanted = 0;
    for (int i = 0; stash.ptrs != NULL && i < count; i++) {
        void *p = dynoffheap_alloc(pool, (size_t)bytes);
        if (p == NULL)
            break;
        stash.ptrs[stash.count++] = p;
    }
    int made = stash.count;
    pthread_mutex_unlock(&stash.lock);
    dynoffheap_set_spill(pool, stash_spill, NULL);
    return made;
}

EXPORT int32_t testops_stash_count(void)
{
    pthread_mutex_lock(&stash.lock);
    int n = stash.count;
    pthread_mutex_unlock(&stash.lock);
    return n;
}

EXPORT int64_t testops_stash_spill_calls(void)
{
    pthread_mutex_lock(&stash.lock);
    int64_t n = stash.spill_calls;
    pthread_mutex_unlock(&stash.lock);
    return n;
}

EXPORT int64_t testops_stash_last_wanted(void)
{
    pthread_mutex_lock(&stash.lock);
    int64_t n = stash.last_wanted;
    pthread_mutex_unlock(&stash.lock);
    return n;
}

/* Frees everything the stash still holds. */
EXPORT void testops_stash_clear(void)
{
    pthread_mutex_lock(&stash.lock);
    while (stash.count > 0)
        dynoffheap_free(stash.pool, stash.ptrs[--stash.count]);
    pthread_mutex_unlock(&stash.lock);
}

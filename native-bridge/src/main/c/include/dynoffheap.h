/*
 * dynoffheap.h - JVM-accounted memory for native code (header-only client API).
 *
 * Native code (a columnar engine, a codec, a store) that runs inside a Spark executor
 * allocates through a *pool* so that every byte it holds is reserved on the JVM side
 * first. The JVM side decides whether a reservation fits the executor's budget; when it
 * does not, the allocation fails cleanly (NULL plus an error text) instead of the
 * container being killed.
 *
 * How native code gets a pool
 * ---------------------------
 * The Java side creates the pool and passes its handle to the native code as a 64-bit
 * integer (a pointer value, e.g. as a `long` argument of a JNI/JNA call). Convert it with
 * dynoffheap_pool_from_handle() and use the static inline wrappers below.
 *
 * No link-time dependency
 * -----------------------
 * This header is all a native library needs: the pool's first member points to a table
 * of function pointers (struct dynoffheap_pool_ops) filled in by libdynoffheap.so, and
 * every wrapper below calls through that table. A library compiled against this header
 * therefore works with whichever libdynoffheap.so the JVM has loaded, as long as
 * dynoffheap_abi_compatible() says so (check it once when you receive a handle).
 *
 * Thread safety
 * -------------
 * Every function may be called from any thread, concurrently, on one pool, including
 * threads that the JVM did not start (the Java binding attaches them to the JVM when the
 * pool must call back into Java, and they stay attached until they exit).
 *
 * Accounting model (what the getters report)
 * ------------------------------------------
 *   used      bytes requested from malloc for live allocations (payload + a 16-byte
 *             header + alignment padding; a sized allocation: exactly its size) plus
 *             bytes taken with dynoffheap_reserve().
 *   reserved  bytes the pool holds from the JVM; always a whole number of blocks (the
 *             block size is chosen when the pool is created, 8 MiB by default).
 *   peak      the highest `used` seen (exact in single-threaded use; under concurrency it
 *             is the highest of the values observed at accounting events).
 * The pool reserves whole blocks from the JVM only when an allocation does not fit the
 * bytes it already holds, and gives whole blocks back when at least two are unused
 * (keeping one block of slack), so steady alloc/free cycles rarely call into the JVM.
 *
 * Two kinds of allocation
 * -----------------------
 * dynoffheap_alloc() and its relatives put a 16-byte header in front of the memory, so
 * dynoffheap_free() needs only the pointer. The *sized* calls (dynoffheap_alloc_sized,
 * dynoffheap_alloc_sized_aligned, dynoffheap_free_sized) keep no header: the caller
 * passes the size back when freeing, as C++'s sized delete or Arrow's MemoryPool::Free
 * do. They are the faster choice for small blocks (the request stays in malloc's size
 * class and nothing is written in front of it). Free each allocation with the call of
 * its own kind; see "What misuse is caught" for what happens otherwise.
 *
 * After the Java side closes a pool, allocations and reservations on it fail with the
 * error text "pool closed", and freeing memory that came from it still works. Later (see
 * dynoffheap_bridge.h) its handle turns stale: calls on it are still recognised and do
 * nothing harmful, but native code should stop using a pool once its owner has closed it.
 *
 * What misuse is caught
 * ---------------------
 * A misuse is refused, changes no counter, frees nothing, and sets the pool's error text
 * (naming the call, the pointer and the pool); the calls that cannot return a failure
 * (the frees, dynoffheap_release) also count it as a misuse, which the Java side turns
 * into a failure of the task. Caught always:
 *   - a NULL pool (every call fails or does nothing; dynoffheap_last_error says why);
 *   - a closed pool, and a stale handle however many pools were closed since (up to about
 *     a million, see dynoffheap_bridge.h): the library never frees what a handle points to;
 *   - a size of 0, or one that cannot be accounted for with its header and padding (a
 *     negative size converted to size_t is such a one); an alignment that is not a power
 *     of two up to DYNOFFHEAP_MAX_ALIGNMENT; a negative byte count; a release of more
 *     than was reserved;
 *   - dynoffheap_free/realloc of a pointer that is not 16-byte aligned, or whose 16 bytes
 *     in front hold no live mark of this pool: memory from dynoffheap_alloc_sized, from
 *     another pool, from malloc; a second free is reported as "double free" when malloc
 *     left the freed block's first payload bytes alone (small blocks of glibc malloc);
 *   - dynoffheap_free_sized of a misaligned pointer, with size 0 or above INT64_MAX, or of
 *     a live allocation from dynoffheap_alloc that does not start a 4 KiB page (with glibc
 *     malloc; with other allocators as a best effort);
 *   - with a size of at least DYNOFFHEAP_TRACKED_SIZE (128 KiB), every misuse of
 *     dynoffheap_free_sized: a second free, a wrong size, a foreign pointer (such sized
 *     allocations are recorded in a map in any mode).
 * Caught only in debug mode (dynoffheap_bridge_set_debug, or DYNOFFHEAP_DEBUG=1 in the
 * environment; the Java side's spark.dynoffheap.debug for a task's pools), which keeps a
 * map of every live allocation and checks it before reading any memory:
 *   - a second dynoffheap_free_sized, or one with a wrong size, given a size below
 *     DYNOFFHEAP_TRACKED_SIZE (without debug mode malloc itself may abort the process, and
 *     a wrong size charges the pool the wrong amount), and a double dynoffheap_free of
 *     memory that malloc has returned to the system (large blocks): the checks above
 *     would read the memory in front of a freed pointer.
 * Never caught: writes out of bounds, use after free, a free of a pointer whose 16 bytes
 * in front are not readable memory (the start of an mmap, say), and a call still running
 * on a pool while more than 4096 other pools are closed.
 *
 * What debug mode records
 * -----------------------
 * Where each allocation was made: the return address of the pool call, which is in the
 * caller's own code because the wrappers below are always inlined (a call from a function
 * that returns the result directly may be compiled as a tail call; the site is then that
 * function's caller). A refused free names where the block was allocated, a double free
 * also where it was first freed (while that free is among the pool's last 256), and a pool
 * closed with live allocations leaves a leak report that groups them by site, largest
 * first (see dynoffheap_bridge_pool_leak_report in dynoffheap_bridge.h). A site reads
 * "symbol+0xoffset (library)" when the symbol is exported (a shared library's global
 * functions; an executable's only when linked with -rdynamic), else "library+0xoffset"
 * from the library's load address, for `addr2line -f -e library 0xoffset`.
 */
#ifndef DYNOFFHEAP_H
#define DYNOFFHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The wrappers are inlined even without optimisation, so that the pool call's return
 * address, which debug mode records as the allocation's site, is in the caller's code. */
#if defined(__GNUC__) || defined(__clang__)
#define DYNOFFHEAP_INLINE static inline __attribute__((always_inline))
#else
#define DYNOFFHEAP_INLINE static inline
#endif

/* Version of the layout of struct dynoffheap_pool_ops. Existing members never move or
 * change meaning within one version; a library may append members (ops_size grows). */
#define DYNOFFHEAP_ABI_VERSION 1u

/* Largest alignment dynoffheap_alloc_aligned() accepts (64 MiB). */
#define DYNOFFHEAP_MAX_ALIGNMENT ((size_t)1 << 26)

/* Sized allocations of at least this many bytes (128 KiB) are checked at their free in
 * any mode (see "What misuse is caught"). */
#define DYNOFFHEAP_TRACKED_SIZE ((size_t)128 << 10)

/* Size of the buffer that always holds a whole error text (longer texts are cut). */
#define DYNOFFHEAP_ERROR_MAX 512

typedef struct dynoffheap_pool dynoffheap_pool;

/*
 * A spill function registered by the native side (see dynoffheap_set_spill). The JVM
 * calls it when it needs memory back: write data out, free memory through the pool,
 * and return the number of bytes freed (0 if nothing could be freed). It runs on a JVM
 * thread, possibly while other threads allocate from the same pool, and it must not
 * block waiting for an allocation on this pool to finish.
 */
typedef int64_t (*dynoffheap_spill_fn)(void *ctx, int64_t bytes_wanted);

/* The function table behind every pool. Use the wrappers below rather than this. */
struct dynoffheap_pool_ops {
    uint32_t abi_version; /* DYNOFFHEAP_ABI_VERSION of the library that filled the table */
    uint32_t ops_size;    /* sizeof(struct dynoffheap_pool_ops) in that library */

    void *(*alloc)(dynoffheap_pool *pool, size_t size);
    void *(*alloc_aligned)(dynoffheap_pool *pool, size_t alignment, size_t size);
    void *(*realloc)(dynoffheap_pool *pool, void *ptr, size_t size);
    void (*free)(dynoffheap_pool *pool, void *ptr);
    int (*reserve)(dynoffheap_pool *pool, int64_t bytes);
    void (*release)(dynoffheap_pool *pool, int64_t bytes);
    int64_t (*used)(dynoffheap_pool *pool);
    int64_t (*peak)(dynoffheap_pool *pool);
    int64_t (*reserved)(dynoffheap_pool *pool);
    size_t (*last_error)(dynoffheap_pool *pool, char *buf, size_t len);
    void (*set_spill)(dynoffheap_pool *pool, dynoffheap_spill_fn spill, void *ctx);
    /* Appended after the first release; a table without them has a smaller ops_size. */
    void *(*alloc_sized)(dynoffheap_pool *pool, size_t size);
    void *(*alloc_sized_aligned)(dynoffheap_pool *pool, size_t alignment, size_t size);
    void (*free_sized)(dynoffheap_pool *pool, void *ptr, size_t size);
};

/* The visible part of a pool: the library's own state follows it in memory. */
struct dynoffheap_pool {
    const struct dynoffheap_pool_ops *ops;
};

/* Turns the 64-bit handle the Java side passed in into a pool pointer (0 gives NULL). */
static inline dynoffheap_pool *dynoffheap_pool_from_handle(int64_t handle)
{
    return (dynoffheap_pool *)(uintptr_t)handle;
}

/* Nonzero when `pool` was made by a library whose function table this header can use
 * (all of it, the sized calls included). */
static inline int dynoffheap_abi_compatible(const dynoffheap_pool *pool)
{
    return pool != NULL && pool->ops != NULL &&
           pool->ops->abi_version == DYNOFFHEAP_ABI_VERSION &&
           pool->ops->ops_size >= sizeof(struct dynoffheap_pool_ops);
}

/*
 * Allocates `size` bytes aligned to 16. Returns NULL when size is 0, when the size is
 * too large to account for, when the JVM denies the reservation, or when malloc fails;
 * dynoffheap_last_error() then tells why. The memory is uninitialised.
 */
DYNOFFHEAP_INLINE void *dynoffheap_alloc(dynoffheap_pool *pool, size_t size)
{
    return pool != NULL ? pool->ops->alloc(pool, size) : NULL;
}

/*
 * Like dynoffheap_alloc() with an alignment that is a power of two no larger than
 * DYNOFFHEAP_MAX_ALIGNMENT (alignments below 16 give 16). Another alignment: NULL.
 */
DYNOFFHEAP_INLINE void *dynoffheap_alloc_aligned(dynoffheap_pool *pool, size_t alignment, size_t size)
{
    return pool != NULL ? pool->ops->alloc_aligned(pool, alignment, size) : NULL;
}

/*
 * realloc(): ptr NULL behaves as dynoffheap_alloc(); size 0 frees ptr and returns NULL
 * (not an error). Growing reserves the extra bytes first; when that or the move fails
 * the result is NULL and `ptr` stays valid and unchanged. The alignment of an aligned
 * allocation is kept.
 */
DYNOFFHEAP_INLINE void *dynoffheap_realloc(dynoffheap_pool *pool, void *ptr, size_t size)
{
    return pool != NULL ? pool->ops->realloc(pool, ptr, size) : NULL;
}

/*
 * Frees memory from dynoffheap_alloc/alloc_aligned/realloc of the same pool. NULL is a
 * no-op. A pointer that is not a live allocation of this pool is refused and reported
 * (see "What misuse is caught"), and nothing is freed.
 */
DYNOFFHEAP_INLINE void dynoffheap_free(dynoffheap_pool *pool, void *ptr)
{
    if (pool != NULL)
        pool->ops->free(pool, ptr);
}

/*
 * Allocates `size` bytes aligned to 16 without a header (see "Two kinds of allocation"):
 * the pool charges exactly `size`. Returns NULL as dynoffheap_alloc() does. Free it with
 * dynoffheap_free_sized() and the same size; there is no sized realloc.
 */
DYNOFFHEAP_INLINE void *dynoffheap_alloc_sized(dynoffheap_pool *pool, size_t size)
{
    return pool != NULL ? pool->ops->alloc_sized(pool, size) : NULL;
}

/*
 * dynoffheap_alloc_sized() with an alignment as dynoffheap_alloc_aligned() takes (a
 * power of two up to DYNOFFHEAP_MAX_ALIGNMENT; below 16 gives 16). Charges `size`.
 */
DYNOFFHEAP_INLINE void *dynoffheap_alloc_sized_aligned(dynoffheap_pool *pool, size_t alignment,
                                                   size_t size)
{
    return pool != NULL ? pool->ops->alloc_sized_aligned(pool, alignment, size) : NULL;
}

/*
 * Frees memory from dynoffheap_alloc_sized/alloc_sized_aligned of the same pool; `size`
 * must be the size it was allocated with. NULL is a no-op. A pointer or size no sized
 * allocation can have and memory from dynoffheap_alloc() are refused always; a second
 * free, a wrong size and a foreign pointer only in debug mode (see "What misuse is
 * caught"). A refused free is reported and frees nothing.
 */
DYNOFFHEAP_INLINE void dynoffheap_free_sized(dynoffheap_pool *pool, void *ptr, size_t size)
{
    if (pool != NULL)
        pool->ops->free_sized(pool, ptr, size);
}

/*
 * Accounts `bytes` that the native code manages itself (an mmap, a GPU staging buffer)
 * as used. Returns 0 on success and nonzero when the reservation was denied or the
 * arguments are invalid (negative bytes, closed pool); see dynoffheap_last_error().
 */
DYNOFFHEAP_INLINE int dynoffheap_reserve(dynoffheap_pool *pool, int64_t bytes)
{
    return pool != NULL ? pool->ops->reserve(pool, bytes) : -1;
}

/*
 * Gives back bytes taken with dynoffheap_reserve(). Releasing more than is currently
 * reserved that way is reported as an error and changes nothing.
 */
DYNOFFHEAP_INLINE void dynoffheap_release(dynoffheap_pool *pool, int64_t bytes)
{
    if (pool != NULL)
        pool->ops->release(pool, bytes);
}

/* Bytes in use (see "Accounting model" above). */
static inline int64_t dynoffheap_used(dynoffheap_pool *pool)
{
    return pool != NULL ? pool->ops->used(pool) : 0;
}

/* Highest `used` seen. */
static inline int64_t dynoffheap_peak(dynoffheap_pool *pool)
{
    return pool != NULL ? pool->ops->peak(pool) : 0;
}

/* Bytes currently reserved from the JVM (a multiple of the block size). */
static inline int64_t dynoffheap_reserved(dynoffheap_pool *pool)
{
    return pool != NULL ? pool->ops->reserved(pool) : 0;
}

/*
 * Copies the pool's last error text into buf (always NUL-terminated when len > 0, cut
 * to fit) and returns the length of the whole text (0 when there was no error).
 * Thread-safe; the text is per pool, so under concurrency it may come from another
 * thread's failure. For a NULL pool the text says that every call on it fails.
 */
static inline size_t dynoffheap_last_error(dynoffheap_pool *pool, char *buf, size_t len)
{
    if (pool == NULL) {
        static const char text[] = "pool is NULL: every call on it fails; pass the handle "
                                   "that the Java side gave (dynoffheap_pool_from_handle "
                                   "of 0 is NULL)";
        if (buf != NULL && len > 0) {
            size_t n = sizeof text - 1 < len - 1 ? sizeof text - 1 : len - 1;
            for (size_t i = 0; i < n; i++)
                buf[i] = text[i];
            buf[n] = '\0';
        }
        return sizeof text - 1;
    }
    return pool->ops->last_error(pool, buf, len);
}

/*
 * Registers the native side's spill function (NULL removes it). The JVM calls it when
 * it wants `bytes_wanted` back; afterwards the pool returns every whole unused block to
 * the JVM. ctx is passed through unchanged. When this returns, the function it replaced
 * is no longer running on any other thread and will not be called again, so its ctx may
 * be freed (called from inside the spill function, it does not wait for that call).
 * Closing the pool removes the function the same way.
 */
static inline void dynoffheap_set_spill(dynoffheap_pool *pool, dynoffheap_spill_fn spill, void *ctx)
{
    if (pool != NULL)
        pool->ops->set_spill(pool, spill, ctx);
}

#ifdef __cplusplus
}
#endif

#endif /* DYNOFFHEAP_H */

/*
 * dynoffheap_pool.c - JVM-accounted memory pools (libdynoffheap.so).
 *
 * The algorithm, before the code
 * ==============================
 * A pool holds `reserved` bytes that the JVM granted in whole blocks. Every allocation
 * is charged with the bytes asked of malloc (payload + 16-byte header + alignment
 * padding) against those reserved bytes. The bytes not charged yet are *headroom*.
 *
 * Headroom lives in two places, both plain C11 atomic counters:
 *   - `avail`, the pool-wide headroom, and
 *   - `stripes[i].credit`, small amounts of headroom that stripe i took from `avail`.
 * Each thread uses one stripe (threads are spread round-robin over STRIPES stripes, each
 * on cache lines of its own), so on the fast path a thread only writes its own stripe's
 * line: an allocation is a compare-and-swap that lowers the stripe's credit if it
 * covers the charge, and a free adds the charge back to the credit. A stripe refills
 * from `avail` one `quantum` (block/16) at a time and gives back what exceeds
 * 2 * quantum. Charges larger than a quantum go straight to `avail` (same CAS).
 * Invariant (at rest): reserved == used + avail + sum(credit), and no counter of
 * headroom is ever negative, so `used` never exceeds `reserved`.
 *
 * Only when neither the stripe nor `avail` covers a charge does the thread take the
 * pool's growth mutex (slow path): it collects every stripe's credit back into `avail`,
 * tries again, and if the charge still does not fit calls the JVM's reserve callback for
 * exactly enough whole blocks to cover the shortfall (a large allocation asks for its
 * size rounded up to blocks). A grant is added to `reserved` and `avail` and the charge
 * is taken from it in one step, so another thread cannot take the new bytes first. A
 * denial leaves every counter as it was and sets the error text (the Java side may
 * already have put its own reason there through dynoffheap_bridge_pool_set_error). (If
 * other threads took a grant before this thread could use it, the slow path asks again;
 * when such a later request is denied, the unused blocks beyond one go back at once.)
 *
 * Giving back (hysteresis): when a free leaves at least two whole unused blocks in
 * `avail`, the pool releases whole blocks down to one block of slack, so alloc/free
 * cycles around a block boundary do not call the JVM each time. shrink() returns every
 * whole unused block (after collecting the stripes' credit); spill() first asks the
 * native side's spill function to free memory, then shrinks.
 *
 * Locks: `grow_lock` is held across the reserve callback (at most one JVM reservation
 * per pool at a time); `acct_lock` is short and guards changes of `reserved`, the close
 * and the spill function. No lock is held while the release callback or the spill
 * function runs. close() waits for releases in flight so the JVM has seen all of them
 * when close returns; set_spill() and close() wait for calls of the spill function in
 * flight (other than the caller's own), so the native side may free the function's
 * context as soon as they return.
 *
 * `used` is derived: reserved - avail - sum(credit). It is exact when the pool is at
 * rest; while other threads move headroom it is an estimate (the counters are read one
 * after another, not as one snapshot). `peak` is raised from that value at every event
 * that touches shared counters, and on the fast path too while only one stripe is
 * active (single-threaded use), so it is exact in that case.
 *
 * Closing: close() releases all reserved bytes to the JVM, returns what live
 * allocations still hold (a leak), sets `avail` to a large negative value so every
 * fast path fails, and parks the pool in a quarantine (see dynoffheap_bridge.h) so
 * late calls on it are defined.
 *
 * Build with -DDYNOFFHEAP_DEBUG to keep a set of live pointers per pool, which turns
 * double frees and foreign pointers into reported errors without reading the memory
 * in front of them. The release build checks a magic value in the header instead.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign, pthreads */

#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "dynoffheap_bridge.h"

#ifdef DYNOFFHEAP_DEBUG
#include "ptrset.h"
#endif

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((cold, noinline))

_Static_assert(sizeof(size_t) >= sizeof(int64_t), "64-bit platforms only");
_Static_assert(alignof(max_align_t) >= 16, "malloc must return 16-byte aligned memory");

/* ------------------------------------------------------------------------------------ */
/* Allocation header                                                                    */
/* ------------------------------------------------------------------------------------ */

#define HEADER_SIZE 16
#define DEFAULT_ALIGN_LOG2 4u
#define LAYOUT_OFFSET_BITS 26u
#define LAYOUT_OFFSET_MASK ((1u << LAYOUT_OFFSET_BITS) - 1u)

/* The 16 bytes in front of every pointer the pool returns. */
struct alloc_header {
    int64_t charged; /* bytes asked of malloc, which is what the pool charged */
    uint32_t check;  /* LIVE_MAGIC or FREED_MAGIC, mixed with the owning pool's tag */
    uint32_t layout; /* low 26 bits: offset of this header from malloc's pointer;
                        high 6 bits: log2 of the alignment the caller asked for */
};
_Static_assert(sizeof(struct alloc_header) == HEADER_SIZE, "header must be 16 bytes");

#define LIVE_MAGIC 0xD0F4EA9Bu
#define FREED_MAGIC 0x0FFEDEADu

/* ------------------------------------------------------------------------------------ */
/* Pool                                                                                 */
/* ------------------------------------------------------------------------------------ */

#define STRIPES 16u
#define CACHE_LINE 64
/* Stripes sit 128 bytes apart: x86 L2 prefetchers fetch 64-byte lines in adjacent pairs,
 * which would make neighbouring stripes share traffic at 64. */
#define STRIPE_SPACING 128
#define POOL_MAGIC 0x6479686f6f6c7031ULL /* marks a pool struct that is live or closed */
#define CLOSED_AVAIL (INT64_MIN / 2)      /* `avail` of a closed pool: no charge fits */
#define SLOW_PATH_ROUNDS 8                /* reservations tried before giving up on a race */

/* Headroom cached by the threads that map to one stripe, each on its own cache lines. */
struct stripe {
    alignas(STRIPE_SPACING) _Atomic int64_t credit;
};

struct pool {
    /* Read-mostly fields, shared by all threads. `pub` must come first: native code
     * reads the function table through the pool pointer. */
    dynoffheap_pool pub;
    uint64_t magic;
    int64_t id;           /* the Java side's pool id, passed to the callbacks */
    int64_t block;        /* reservation unit, bytes */
    int64_t quantum;      /* stripe refill unit, bytes; larger charges bypass stripes */
    uint32_t tag;         /* mixed into header magics so other pools' pointers stand out */
    _Atomic int closed;

    /* Pool-wide headroom: written on refills, large charges and reservations. */
    alignas(CACHE_LINE) _Atomic int64_t avail;

    alignas(CACHE_LINE) _Atomic int64_t reserved; /* changed only under acct_lock */
    _Atomic int64_t peak;
    _Atomic uint32_t active; /* bit i set: stripe i may hold credit */

    struct stripe stripes[STRIPES];

    /* Cold state. */
    alignas(CACHE_LINE) pthread_mutex_t grow_lock;
    pthread_mutex_t acct_lock;
    pthread_cond_t release_done; /* signalled when `releasing` drops to 0 */
    int releasing;               /* release callbacks in flight, under acct_lock */
    dynoffheap_spill_fn spill;   /* under acct_lock */
    void *spill_ctx;             /* under acct_lock */
    pthread_cond_t spill_done;   /* signalled when `spilling` drops to 0 */
    int spilling;                /* calls of `spill` in flight, under acct_lock */
    _Atomic int64_t explicit_bytes; /* taken with dynoffheap_reserve() */
    _Atomic int64_t closed_used;    /* live bytes of a closed pool */
    _Atomic int64_t released_total; /* all bytes ever released to the JVM */

    pthread_mutex_t err_lock;
    uint64_t err_seq; /* bumped on every error, to see whether Java set one */
    char err[DYNOFFHEAP_ERROR_MAX];

#ifdef DYNOFFHEAP_DEBUG
    pthread_mutex_t live_lock;
    struct ptrset live; /* every pointer handed out and not yet freed */
#endif
};

/* The JVM callbacks shared by all pools. */
static _Atomic(dynoffheap_reserve_cb) g_reserve_cb;
static _Atomic(dynoffheap_release_cb) g_release_cb;

/* Closed pools kept alive (ring buffer; the oldest is freed when a new one arrives). */
static pthread_mutex_t g_quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *g_quarantine[DYNOFFHEAP_QUARANTINE_SIZE];
static size_t g_quarantine_next;

/* Round-robin stripe assignment for threads. initial-exec TLS keeps the lookup a single
 * load; one int is far below what glibc reserves for libraries loaded with dlopen. */
static _Atomic unsigned g_next_stripe;
static _Thread_local int tl_stripe __attribute__((tls_model("initial-exec"))) = -1;

/* The pool whose spill function the calling thread is running, if any. */
static _Thread_local struct pool *tl_spilling __attribute__((tls_model("initial-exec")));

static COLD unsigned assign_stripe(void)
{
    int s = (int)(atomic_fetch_add_explicit(&g_next_stripe, 1, memory_order_relaxed) % STRIPES);
    tl_stripe = s;
    return (unsigned)s;
}

static inline unsigned my_stripe(void)
{
    int s = tl_stripe;
    return LIKELY(s >= 0) ? (unsigned)s : assign_stripe();
}

static inline struct pool *pool_of(dynoffheap_pool *pub)
{
    return (struct pool *)pub; /* pub is the first member */
}

/* ------------------------------------------------------------------------------------ */
/* Error text                                                                           */
/* ------------------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) COLD
static void set_error(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&p->err_lock);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    p->err_seq++;
    pthread_mutex_unlock(&p->err_lock);
    va_end(ap);
}

static uint64_t error_seq(struct pool *p)
{
    pthread_mutex_lock(&p->err_lock);
    uint64_t seq = p->err_seq;
    pthread_mutex_unlock(&p->err_lock);
    return seq;
}

static size_t copy_error(struct pool *p, char *buf, size_t len)
{
    pthread_mutex_lock(&p->err_lock);
    size_t n = strlen(p->err);
    if (buf != NULL && len > 0) {
        size_t c = n < len - 1 ? n : len - 1;
        memcpy(buf, p->err, c);
        buf[c] = '\0';
    }
    pthread_mutex_unlock(&p->err_lock);
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Counters                                                                             */
/* ------------------------------------------------------------------------------------ */

static inline void raise_peak(struct pool *p, int64_t used)
{
    int64_t cur = atomic_load_explicit(&p->peak, memory_order_relaxed);
    while (used > cur &&
           !atomic_compare_exchange_weak_explicit(&p->peak, &cur, used, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* reserved - avail - sum(credit): exact at rest, an estimate while counters move. */
static int64_t current_used(struct pool *p)
{
    if (atomic_load(&p->closed))
        return atomic_load(&p->closed_used);
    int64_t credit = 0;
    for (unsigned i = 0; i < STRIPES; i++)
        credit += atomic_load(&p->stripes[i].credit);
    int64_t used = atomic_load(&p->reserved) - atomic_load(&p->avail) - credit;
    return used > 0 ? used : 0;
}

static void sample_peak(struct pool *p)
{
    raise_peak(p, current_used(p));
}

/* Records that stripe s may hold credit. Called after adding to its credit, which
 * together with sweep_stripes() clearing the bit before emptying the stripe keeps
 * "credit != 0 implies bit set" true whenever nobody is in the middle of an update. */
static inline void mark_active(struct pool *p, unsigned s)
{
    uint32_t bit = 1u << s;
    if ((atomic_load(&p->active) & bit) == 0)
        atomic_fetch_or(&p->active, bit);
}

/* Peak on the fast path: exact and cheap while this stripe is the only active one. */
static inline void note_fast_charge(struct pool *p, unsigned s, int64_t credit_after)
{
    if (atomic_load_explicit(&p->active, memory_order_relaxed) == (1u << s)) {
        int64_t used = atomic_load_explicit(&p->reserved, memory_order_relaxed) -
                       atomic_load_explicit(&p->avail, memory_order_relaxed) - credit_after;
        raise_peak(p, used);
    }
}

/* Takes between `min` and `want` bytes from `avail` (as much as it holds, up to want).
 * Returns the bytes taken, or 0 when avail is below min. */
static inline int64_t draw(struct pool *p, int64_t min, int64_t want)
{
    int64_t a = atomic_load(&p->avail);
    while (a >= min) {
        int64_t take = a < want ? a : want;
        if (atomic_compare_exchange_weak(&p->avail, &a, a - take))
            return take;
    }
    return 0;
}

/* Moves every stripe's credit back into avail. */
static void sweep_stripes(struct pool *p)
{
    for (unsigned i = 0; i < STRIPES; i++) {
        atomic_fetch_and(&p->active, ~(1u << i));
        int64_t c = atomic_exchange(&p->stripes[i].credit, 0);
        if (c != 0)
            atomic_fetch_add(&p->avail, c);
    }
}

/* Releases whole blocks of avail to the JVM, keeping `keep_blocks` whole blocks unused;
 * with `sweep` it first collects the stripes' credit. Returns the bytes released. */
static int64_t release_blocks(struct pool *p, int64_t keep_blocks, int sweep)
{
    pthread_mutex_lock(&p->acct_lock);
    if (atomic_load(&p->closed)) {
        pthread_mutex_unlock(&p->acct_lock);
        return 0;
    }
    if (sweep)
        sweep_stripes(p);
    int64_t a = atomic_load(&p->avail);
    int64_t bytes;
    do {
        int64_t blocks = a / p->block - keep_blocks;
        if (blocks <= 0) {
            pthread_mutex_unlock(&p->acct_lock);
            return 0;
        }
        bytes = blocks * p->block;
    } while (!atomic_compare_exchange_weak(&p->avail, &a, a - bytes));
    atomic_fetch_sub(&p->reserved, bytes);
    atomic_fetch_add(&p->released_total, bytes);
    p->releasing++;
    pthread_mutex_unlock(&p->acct_lock);

    dynoffheap_release_cb release = atomic_load(&g_release_cb);
    if (release != NULL)
        release(p->id, bytes);

    pthread_mutex_lock(&p->acct_lock);
    if (--p->releasing == 0)
        pthread_cond_broadcast(&p->release_done);
    pthread_mutex_unlock(&p->acct_lock);
    return bytes;
}

/* The hysteresis rule: two whole unused blocks in avail trigger a release down to one. */
static inline void maybe_release(struct pool *p, int64_t avail_now)
{
    if (avail_now >= 2 * p->block)
        release_blocks(p, 1, 0);
}

/* Slow path of charge(): see "Only when neither..." in the header comment. */
static int charge_slow(struct pool *p, int64_t bytes, const char *what, int64_t requested)
{
    pthread_mutex_lock(&p->grow_lock);
    int granted_before = 0;
    for (int round = 0; round < SLOW_PATH_ROUNDS; round++) {
        if (atomic_load(&p->closed)) {
            pthread_mutex_unlock(&p->grow_lock);
            set_error(p, "pool closed: %s of %lld bytes refused (pool %lld)", what,
                      (long long)requested, (long long)p->id);
            return -1;
        }
        sweep_stripes(p);
        /* Take the charge from avail if it fits now. When it does not, the shortfall is
         * computed from the value this loop saw, so it is always positive even if frees
         * raise avail meanwhile (re-reading avail here could give need <= 0). */
        int64_t have = atomic_load(&p->avail);
        int took = 0;
        while (have >= bytes && !(took = atomic_compare_exchange_weak(&p->avail, &have,
                                                                      have - bytes))) {
        }
        if (took) {
            pthread_mutex_unlock(&p->grow_lock);
            sample_peak(p);
            return 0;
        }
        int64_t need = bytes - (have > 0 ? have : 0);
        if (need > INT64_MAX - (p->block - 1)) {
            pthread_mutex_unlock(&p->grow_lock);
            set_error(p, "%s of %lld bytes is too large to account for (pool %lld)", what,
                      (long long)requested, (long long)p->id);
            return -1;
        }
        int64_t ask = (need + p->block - 1) / p->block * p->block;

        dynoffheap_reserve_cb reserve = atomic_load(&g_reserve_cb);
        uint64_t seq = error_seq(p);
        int32_t ok = reserve != NULL ? reserve(p->id, ask) : 0;
        if (ok != 1) {
            int64_t used = current_used(p);
            int64_t reserved = atomic_load(&p->reserved);
            pthread_mutex_unlock(&p->grow_lock);
            if (reserve == NULL)
                set_error(p, "%s of %lld bytes denied: no JVM callbacks are registered "
                          "(pool %lld)", what, (long long)requested, (long long)p->id);
            else if (error_seq(p) == seq) /* the JVM side gave no reason of its own */
                set_error(p, "%s of %lld bytes denied: the JVM refused to reserve %lld more "
                          "bytes (pool %lld: used %lld, reserved %lld, block %lld)", what,
                          (long long)requested, (long long)ask, (long long)p->id,
                          (long long)used, (long long)reserved, (long long)p->block);
            if (granted_before) /* give back what earlier rounds reserved */
                release_blocks(p, 1, 0);
            return -1;
        }

        /* Add the grant and take this charge from it in one step. */
        pthread_mutex_lock(&p->acct_lock);
        atomic_fetch_add(&p->reserved, ask);
        int64_t a = atomic_load(&p->avail);
        int charged;
        for (;;) {
            charged = a + ask >= bytes;
            int64_t next = charged ? a + ask - bytes : a + ask;
            if (atomic_compare_exchange_weak(&p->avail, &a, next))
                break;
        }
        pthread_mutex_unlock(&p->acct_lock);
        if (charged) {
            pthread_mutex_unlock(&p->grow_lock);
            sample_peak(p);
            return 0;
        }
        /* Other threads took the headroom meanwhile: reserve the new shortfall. */
        granted_before = 1;
    }
    pthread_mutex_unlock(&p->grow_lock);
    release_blocks(p, 1, 0);
    set_error(p, "%s of %lld bytes failed: concurrent allocations kept taking the reserved "
              "bytes (pool %lld)", what, (long long)requested, (long long)p->id);
    return -1;
}

/* Everything of charge() but its fast path: a closed pool, a stripe refill, a charge
 * larger than a quantum, and the slow path. */
static __attribute__((noinline)) int charge_refill(struct pool *p, int64_t bytes,
                                                   const char *what, int64_t requested)
{
    if (atomic_load(&p->closed)) {
        set_error(p, "pool closed: %s of %lld bytes refused (pool %lld)", what,
                  (long long)requested, (long long)p->id);
        return -1;
    }
    if (bytes <= p->quantum) {
        unsigned s = my_stripe();
        int64_t got = draw(p, bytes, p->quantum);
        if (got > 0) {
            atomic_fetch_add(&p->stripes[s].credit, got - bytes);
            mark_active(p, s);
            sample_peak(p);
            return 0;
        }
    } else if (draw(p, bytes, bytes) > 0) {
        sample_peak(p);
        return 0;
    }
    return charge_slow(p, bytes, what, requested);
}

/* Charges `bytes` (> 0) to the pool. Returns 0, or -1 with the error text set. The fast
 * path is one CAS on the calling thread's stripe. */
static inline int charge(struct pool *p, int64_t bytes, const char *what, int64_t requested)
{
    if (LIKELY(bytes <= p->quantum && !atomic_load_explicit(&p->closed, memory_order_relaxed))) {
        unsigned s = my_stripe();
        _Atomic int64_t *credit = &p->stripes[s].credit;
        int64_t c = atomic_load_explicit(credit, memory_order_relaxed);
        while (c >= bytes) {
            if (atomic_compare_exchange_weak(credit, &c, c - bytes)) {
                note_fast_charge(p, s, c - bytes);
                return 0;
            }
        }
    }
    return charge_refill(p, bytes, what, requested);
}

/* The rest of a stripe uncharge: mark the stripe active, and give what exceeds two
 * quanta back to avail. */
static __attribute__((noinline)) void uncharge_tail(struct pool *p, unsigned s, int64_t c)
{
    mark_active(p, s);
    _Atomic int64_t *credit = &p->stripes[s].credit;
    while (c > 2 * p->quantum) {
        if (atomic_compare_exchange_weak(credit, &c, p->quantum)) {
            int64_t excess = c - p->quantum;
            maybe_release(p, atomic_fetch_add(&p->avail, excess) + excess);
            break;
        }
    }
}

/* Uncharges that bypass the stripes: a closed pool, or more than a quantum. */
static __attribute__((noinline)) void uncharge_direct(struct pool *p, int64_t bytes)
{
    if (atomic_load(&p->closed)) {
        atomic_fetch_sub(&p->closed_used, bytes);
        return;
    }
    maybe_release(p, atomic_fetch_add(&p->avail, bytes) + bytes);
}

/* Gives `bytes` back to the pool's headroom (or to the closed pool's live count). The
 * fast path is one atomic add on the calling thread's stripe. */
static inline void uncharge(struct pool *p, int64_t bytes)
{
    if (LIKELY(bytes <= p->quantum && !atomic_load_explicit(&p->closed, memory_order_relaxed))) {
        unsigned s = my_stripe();
        int64_t c = atomic_fetch_add(&p->stripes[s].credit, bytes) + bytes;
        /* seq_cst load after the add: see mark_active(). */
        if (UNLIKELY(c > 2 * p->quantum || (atomic_load(&p->active) & (1u << s)) == 0))
            uncharge_tail(p, s, c);
        return;
    }
    uncharge_direct(p, bytes);
}

/* ------------------------------------------------------------------------------------ */
/* Live-pointer checks                                                                  */
/* ------------------------------------------------------------------------------------ */

static inline uint32_t live_check(const struct pool *p)
{
    return LIVE_MAGIC ^ p->tag;
}

static inline uint32_t freed_check(const struct pool *p)
{
    return FREED_MAGIC ^ p->tag;
}

static void track(struct pool *p, void *user, int *ok)
{
#ifdef DYNOFFHEAP_DEBUG
    pthread_mutex_lock(&p->live_lock);
    *ok = ptrset_add(&p->live, user) == 0;
    pthread_mutex_unlock(&p->live_lock);
#else
    (void)p;
    (void)user;
    *ok = 1;
#endif
}

static COLD struct alloc_header *bad_pointer(struct pool *p, void *user, const char *what,
                                            const char *why)
{
    set_error(p, "%s: %p %s (pool %lld)", what, user, why, (long long)p->id);
    return NULL;
}

/*
 * Finds the header of `user` and checks that it is a live allocation of this pool. With
 * `untrack` (free), a debug build also drops it from the live set in the same step, so
 * two threads freeing one pointer cannot both pass. Returns the header or NULL with the
 * error text set.
 */
static inline struct alloc_header *live_header(struct pool *p, void *user, const char *what,
                                               int untrack)
{
    if (UNLIKELY(((uintptr_t)user & 15u) != 0))
        return bad_pointer(p, user, what, "was not allocated by this pool");
#ifdef DYNOFFHEAP_DEBUG
    pthread_mutex_lock(&p->live_lock);
    int member = untrack ? ptrset_remove(&p->live, user) : ptrset_contains(&p->live, user);
    pthread_mutex_unlock(&p->live_lock);
    if (!member)
        return bad_pointer(p, user, what,
                           "is not a live allocation of this pool (double free or foreign pointer)");
#else
    (void)untrack;
#endif
    struct alloc_header *h = (struct alloc_header *)((char *)user - HEADER_SIZE);
    if (LIKELY(h->check == live_check(p)))
        return h;
    return bad_pointer(p, user, what,
                       h->check == freed_check(p) ? "was already freed (double free)"
                                                  : "was not allocated by this pool (bad header)");
}

/* ------------------------------------------------------------------------------------ */
/* Pool operations (the function table)                                                 */
/* ------------------------------------------------------------------------------------ */

static inline void *alloc_impl(struct pool *p, size_t alignment, size_t size, const char *what)
{
    if (size == 0) {
        set_error(p, "%s: size 0 is not a valid allocation (pool %lld)", what, (long long)p->id);
        return NULL;
    }
    unsigned align_log2 = DEFAULT_ALIGN_LOG2;
    size_t overhead = HEADER_SIZE;
    if (alignment > HEADER_SIZE) {
        align_log2 = (unsigned)__builtin_ctzll((unsigned long long)alignment);
        overhead = alignment; /* header + worst-case padding */
    }
    if (size > (size_t)INT64_MAX - overhead) {
        set_error(p, "%s: %zu bytes is too large to account for (pool %lld)", what, size,
                  (long long)p->id);
        return NULL;
    }
    int64_t total = (int64_t)(size + overhead);
    if (charge(p, total, what, (int64_t)size) != 0)
        return NULL;

    char *raw = malloc((size_t)total);
    if (raw == NULL) {
        uncharge(p, total);
        set_error(p, "%s: malloc of %lld bytes failed (pool %lld)", what, (long long)total,
                  (long long)p->id);
        return NULL;
    }
    char *user = raw + HEADER_SIZE;
    if (alignment > HEADER_SIZE)
        user = (char *)(((uintptr_t)user + alignment - 1) & ~(uintptr_t)(alignment - 1));
    struct alloc_header *h = (struct alloc_header *)(user - HEADER_SIZE);
    h->charged = total;
    h->check = live_check(p);
    h->layout = (align_log2 << LAYOUT_OFFSET_BITS) | (uint32_t)((char *)h - raw);

    int tracked;
    track(p, user, &tracked);
    if (!tracked) {
        free(raw);
        uncharge(p, total);
        set_error(p, "%s: no memory for the debug live-pointer set (pool %lld)", what,
                  (long long)p->id);
        return NULL;
    }
    return user;
}

static void *op_alloc(dynoffheap_pool *pub, size_t size)
{
    return alloc_impl(pool_of(pub), HEADER_SIZE, size, "alloc");
}

static void *op_alloc_aligned(dynoffheap_pool *pub, size_t alignment, size_t size)
{
    struct pool *p = pool_of(pub);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 ||
        alignment > DYNOFFHEAP_MAX_ALIGNMENT) {
        set_error(p, "alloc_aligned: alignment %zu is not a power of two up to %zu (pool %lld)",
                  alignment, (size_t)DYNOFFHEAP_MAX_ALIGNMENT, (long long)p->id);
        return NULL;
    }
    return alloc_impl(p, alignment < HEADER_SIZE ? HEADER_SIZE : alignment, size,
                      "alloc_aligned");
}

/* Frees an allocation whose header was checked (and, in debug, untracked). */
static void release_allocation(struct pool *p, struct alloc_header *h)
{
    int64_t charged = h->charged;
    char *raw = (char *)h - (h->layout & LAYOUT_OFFSET_MASK);
    h->check = freed_check(p);
    free(raw);
    uncharge(p, charged);
}

static void op_free(dynoffheap_pool *pub, void *user)
{
    if (user == NULL)
        return;
    struct pool *p = pool_of(pub);
    struct alloc_header *h = live_header(p, user, "free", 1);
    if (h != NULL)
        release_allocation(p, h);
}

static void *op_realloc(dynoffheap_pool *pub, void *user, size_t size)
{
    struct pool *p = pool_of(pub);
    if (user == NULL)
        return alloc_impl(p, HEADER_SIZE, size, "realloc");
    if (size == 0) {
        op_free(pub, user);
        return NULL;
    }
    struct alloc_header *h = live_header(p, user, "realloc", 0);
    if (h == NULL)
        return NULL;

    size_t alignment = (size_t)1 << (h->layout >> LAYOUT_OFFSET_BITS);
    size_t overhead = alignment > HEADER_SIZE ? alignment : HEADER_SIZE;
    int64_t old_total = h->charged;
    size_t old_size = (size_t)old_total - overhead;

    if (alignment > HEADER_SIZE) {
        /* Over-aligned: allocate, copy, free (the old block stays valid on failure). */
        void *fresh = alloc_impl(p, alignment, size, "realloc");
        if (fresh == NULL)
            return NULL;
        memcpy(fresh, user, old_size < size ? old_size : size);
        op_free(pub, user);
        return fresh;
    }

    if (size > (size_t)INT64_MAX - HEADER_SIZE) {
        set_error(p, "realloc: %zu bytes is too large to account for (pool %lld)", size,
                  (long long)p->id);
        return NULL;
    }
    int64_t new_total = (int64_t)(size + HEADER_SIZE);
    /* Growing: reserve the extra bytes before anything moves. */
    if (new_total > old_total && charge(p, new_total - old_total, "realloc", (int64_t)size) != 0)
        return NULL;

    char *raw = (char *)h; /* offset 0 for 16-byte alignment */
    char *moved = realloc(raw, (size_t)new_total);
    if (moved == NULL) {
        if (new_total > old_total)
            uncharge(p, new_total - old_total);
        set_error(p, "realloc: malloc of %lld bytes failed (pool %lld)", (long long)new_total,
                  (long long)p->id);
        return NULL;
    }
    ((struct alloc_header *)moved)->charged = new_total;
    if (new_total < old_total)
        uncharge(p, old_total - new_total);

#ifdef DYNOFFHEAP_DEBUG
    if (moved != raw) {
        pthread_mutex_lock(&p->live_lock);
        ptrset_remove(&p->live, user);
        int ok = ptrset_add(&p->live, moved + HEADER_SIZE) == 0;
        pthread_mutex_unlock(&p->live_lock);
        if (!ok) /* the memory stays valid, only the debug check will miss it */
            set_error(p, "realloc: no memory for the debug live-pointer set (pool %lld)",
                      (long long)p->id);
    }
#endif
    return moved + HEADER_SIZE;
}

static int op_reserve(dynoffheap_pool *pub, int64_t bytes)
{
    struct pool *p = pool_of(pub);
    if (bytes < 0) {
        set_error(p, "reserve: negative byte count %lld (pool %lld)", (long long)bytes,
                  (long long)p->id);
        return -1;
    }
    if (atomic_load(&p->closed)) {
        set_error(p, "pool closed: reserve of %lld bytes refused (pool %lld)", (long long)bytes,
                  (long long)p->id);
        return -1;
    }
    if (bytes == 0)
        return 0;
    if (charge(p, bytes, "reserve", bytes) != 0)
        return 1;
    atomic_fetch_add(&p->explicit_bytes, bytes);
    return 0;
}

static void op_release(dynoffheap_pool *pub, int64_t bytes)
{
    struct pool *p = pool_of(pub);
    if (bytes <= 0) {
        if (bytes < 0)
            set_error(p, "release: negative byte count %lld (pool %lld)", (long long)bytes,
                      (long long)p->id);
        return;
    }
    int64_t held = atomic_load(&p->explicit_bytes);
    do {
        if (bytes > held) {
            set_error(p, "release: %lld bytes is more than the %lld bytes taken with reserve "
                      "(pool %lld)", (long long)bytes, (long long)held, (long long)p->id);
            return;
        }
    } while (!atomic_compare_exchange_weak(&p->explicit_bytes, &held, held - bytes));
    uncharge(p, bytes);
}

static int64_t op_used(dynoffheap_pool *pub)
{
    return current_used(pool_of(pub));
}

static int64_t op_peak(dynoffheap_pool *pub)
{
    struct pool *p = pool_of(pub);
    sample_peak(p); /* the peak is never below a used value someone could have read */
    return atomic_load(&p->peak);
}

static int64_t op_reserved(dynoffheap_pool *pub)
{
    return atomic_load(&pool_of(pub)->reserved);
}

static size_t op_last_error(dynoffheap_pool *pub, char *buf, size_t len)
{
    return copy_error(pool_of(pub), buf, len);
}

/* Waits (under acct_lock) until no other call of the spill function is running; a call
 * from inside the spill function itself does not wait for its own. */
static void wait_for_spills(struct pool *p)
{
    int own = tl_spilling == p;
    while (p->spilling > own)
        pthread_cond_wait(&p->spill_done, &p->acct_lock);
}

static void op_set_spill(dynoffheap_pool *pub, dynoffheap_spill_fn spill, void *ctx)
{
    struct pool *p = pool_of(pub);
    pthread_mutex_lock(&p->acct_lock);
    if (!atomic_load(&p->closed)) {
        p->spill = spill;
        p->spill_ctx = ctx;
        wait_for_spills(p); /* the function replaced is no longer running on return */
    }
    pthread_mutex_unlock(&p->acct_lock);
}

static const struct dynoffheap_pool_ops g_ops = {
    .abi_version = DYNOFFHEAP_ABI_VERSION,
    .ops_size = sizeof(struct dynoffheap_pool_ops),
    .alloc = op_alloc,
    .alloc_aligned = op_alloc_aligned,
    .realloc = op_realloc,
    .free = op_free,
    .reserve = op_reserve,
    .release = op_release,
    .used = op_used,
    .peak = op_peak,
    .reserved = op_reserved,
    .last_error = op_last_error,
    .set_spill = op_set_spill,
};

/* ------------------------------------------------------------------------------------ */
/* Bridge API (exported)                                                                */
/* ------------------------------------------------------------------------------------ */

/* Handle to pool, with a best-effort check that it still is one. */
static struct pool *from_handle(int64_t handle)
{
    struct pool *p = (struct pool *)(uintptr_t)handle;
    if (p == NULL || p->magic != POOL_MAGIC)
        return NULL;
    return p;
}

static void pool_destroy(struct pool *p)
{
    p->magic = 0;
    pthread_mutex_destroy(&p->grow_lock);
    pthread_mutex_destroy(&p->acct_lock);
    pthread_cond_destroy(&p->release_done);
    pthread_cond_destroy(&p->spill_done);
    pthread_mutex_destroy(&p->err_lock);
#ifdef DYNOFFHEAP_DEBUG
    pthread_mutex_destroy(&p->live_lock);
    ptrset_destroy(&p->live);
#endif
    free(p);
}

static void quarantine_add(struct pool *p)
{
    pthread_mutex_lock(&g_quarantine_lock);
    struct pool *oldest = g_quarantine[g_quarantine_next];
    g_quarantine[g_quarantine_next] = p;
    g_quarantine_next = (g_quarantine_next + 1) % DYNOFFHEAP_QUARANTINE_SIZE;
    pthread_mutex_unlock(&g_quarantine_lock);
    if (oldest != NULL)
        pool_destroy(oldest);
}

EXPORT int32_t dynoffheap_bridge_abi_version(void)
{
    return (int32_t)DYNOFFHEAP_ABI_VERSION;
}

EXPORT void dynoffheap_bridge_set_callbacks(dynoffheap_reserve_cb reserve,
                                            dynoffheap_release_cb release)
{
    atomic_store(&g_reserve_cb, reserve);
    atomic_store(&g_release_cb, release);
}

EXPORT int64_t dynoffheap_bridge_pool_create(int64_t pool_id, int64_t block_size)
{
    if (block_size < DYNOFFHEAP_MIN_BLOCK_SIZE || block_size > DYNOFFHEAP_MAX_BLOCK_SIZE)
        return 0;
    void *mem = NULL;
    size_t align = alignof(struct pool); /* STRIPE_SPACING */
    size_t size = (sizeof(struct pool) + align - 1) / align * align;
    if (posix_memalign(&mem, align, size) != 0)
        return 0;
    memset(mem, 0, size);
    struct pool *p = mem;

    p->pub.ops = &g_ops;
    p->magic = POOL_MAGIC;
    p->id = pool_id;
    p->block = block_size;
    p->quantum = block_size / 16 / 16 * 16; /* >= 256 given the minimum block size */
    uint64_t mix = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;
    p->tag = (uint32_t)(mix >> 32);

    int failed = pthread_mutex_init(&p->grow_lock, NULL) != 0;
    failed |= pthread_mutex_init(&p->acct_lock, NULL) != 0;
    failed |= pthread_cond_init(&p->release_done, NULL) != 0;
    failed |= pthread_cond_init(&p->spill_done, NULL) != 0;
    failed |= pthread_mutex_init(&p->err_lock, NULL) != 0;
#ifdef DYNOFFHEAP_DEBUG
    failed |= pthread_mutex_init(&p->live_lock, NULL) != 0;
#endif
    if (failed) { /* only under resource exhaustion; Linux mutex init cannot fail */
        free(p);
        return 0;
    }
    return (int64_t)(uintptr_t)p;
}

EXPORT void dynoffheap_bridge_pool_set_error(int64_t handle, const char *text)
{
    struct pool *p = from_handle(handle);
    if (p != NULL)
        set_error(p, "%s", text != NULL ? text : "");
}

EXPORT int64_t dynoffheap_bridge_pool_last_error(int64_t handle, char *buf, int64_t len)
{
    struct pool *p = from_handle(handle);
    if (p == NULL) {
        if (buf != NULL && len > 0)
            buf[0] = '\0';
        return 0;
    }
    return (int64_t)copy_error(p, buf, len > 0 ? (size_t)len : 0);
}

EXPORT int64_t dynoffheap_bridge_pool_used(int64_t handle)
{
    struct pool *p = from_handle(handle);
    return p != NULL ? op_used(&p->pub) : 0;
}

EXPORT int64_t dynoffheap_bridge_pool_peak(int64_t handle)
{
    struct pool *p = from_handle(handle);
    return p != NULL ? op_peak(&p->pub) : 0;
}

EXPORT int64_t dynoffheap_bridge_pool_reserved(int64_t handle)
{
    struct pool *p = from_handle(handle);
    return p != NULL ? op_reserved(&p->pub) : 0;
}

EXPORT int64_t dynoffheap_bridge_pool_shrink(int64_t handle)
{
    struct pool *p = from_handle(handle);
    return p != NULL ? release_blocks(p, 0, 1) : 0;
}

EXPORT int64_t dynoffheap_bridge_pool_spill(int64_t handle, int64_t bytes)
{
    struct pool *p = from_handle(handle);
    if (p == NULL || bytes <= 0)
        return 0;
    pthread_mutex_lock(&p->acct_lock);
    dynoffheap_spill_fn spill = p->spill;
    void *ctx = p->spill_ctx;
    int closed = atomic_load(&p->closed);
    if (spill != NULL && !closed)
        p->spilling++;
    pthread_mutex_unlock(&p->acct_lock);
    if (closed)
        return 0;
    /* Count every release in the spill window: the spill function's frees may already
     * give blocks back through the hysteresis rule before the final shrink. */
    int64_t released_before = atomic_load(&p->released_total);
    if (spill != NULL) {
        struct pool *outer = tl_spilling;
        tl_spilling = p;
        spill(ctx, bytes); /* its own count is informational; the pool measures */
        tl_spilling = outer;
        pthread_mutex_lock(&p->acct_lock);
        if (--p->spilling == 0)
            pthread_cond_broadcast(&p->spill_done);
        pthread_mutex_unlock(&p->acct_lock);
    }
    release_blocks(p, 0, 1);
    return atomic_load(&p->released_total) - released_before;
}

EXPORT int64_t dynoffheap_bridge_pool_close(int64_t handle)
{
    struct pool *p = from_handle(handle);
    if (p == NULL)
        return 0;
    /* No spill function runs after close returns (the native side may free its context). */
    pthread_mutex_lock(&p->acct_lock);
    p->spill = NULL;
    p->spill_ctx = NULL;
    wait_for_spills(p);
    pthread_mutex_unlock(&p->acct_lock);
    pthread_mutex_lock(&p->grow_lock); /* waits for a reservation in progress */
    pthread_mutex_lock(&p->acct_lock);
    if (atomic_load(&p->closed)) {
        pthread_mutex_unlock(&p->acct_lock);
        pthread_mutex_unlock(&p->grow_lock);
        return 0;
    }
    atomic_store(&p->closed, 1);
    sweep_stripes(p);
    while (p->releasing > 0) /* let the JVM see releases already decided */
        pthread_cond_wait(&p->release_done, &p->acct_lock);
    int64_t reserved = atomic_load(&p->reserved);
    int64_t leaked = reserved - atomic_load(&p->avail);
    atomic_store(&p->closed_used, leaked);
    atomic_store(&p->reserved, 0);
    atomic_store(&p->avail, CLOSED_AVAIL);
    pthread_mutex_unlock(&p->acct_lock);
    pthread_mutex_unlock(&p->grow_lock);

    dynoffheap_release_cb release = atomic_load(&g_release_cb);
    if (reserved > 0 && release != NULL)
        release(p->id, reserved);
    quarantine_add(p);
    return leaked;
}

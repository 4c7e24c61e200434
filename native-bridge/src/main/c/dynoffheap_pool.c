/*
 * dynoffheap_pool.c - JVM-accounted memory pools (libdynoffheap.so).
 *
 * The algorithm, before the code
 * ==============================
 * A pool holds `reserved` bytes that the JVM granted in whole blocks. Every allocation
 * is charged with the bytes asked of malloc (payload + 16-byte header + alignment
 * padding; a sized allocation has no header) against those reserved bytes. The bytes not charged yet are *headroom*.
 *
 * Headroom lives in two places:
 *   - `avail`, the pool-wide headroom, an atomic counter that any thread may change, and
 *   - `slots[i].credit`, a little headroom that the thread owning slot i took from
 *     `avail`. A slot has at most one owner thread, and only its owner changes its
 *     credit, with plain loads and stores (no lock-prefixed instruction); see "Taking
 *     credit back" for how other threads get at it.
 * Invariant (at rest): reserved == used + avail + sum(credit), and no counter of
 * headroom is ever negative, so `used` never exceeds `reserved`.
 *
 * Fast path. An allocation lowers the calling thread's credit by the charge when the
 * credit covers it; a free raises it. A slot refills from `avail` one `quantum`
 * (block/16) at a time and gives back what exceeds 2 * quantum. Charges larger than a
 * quantum, and threads without a slot, use `avail` directly (one CAS or atomic add).
 *
 * Owning a slot. Every thread that uses a pool gets a *thread record* (allocated on
 * first use, put on a free list when the thread exits, reused by a later thread, never
 * freed). It holds the thread's `busy` flag and caches the pool the thread used last
 * and its slot there. A slot's `owner` is FREE, LOCKED (being swept, or the pool is
 * closed) or the owning thread's record. A thread claims a FREE slot with a CAS; a pool
 * has SLOTS slots, and a thread that finds none free uses the shared path until the
 * next sweep frees them. A record handed to a new thread keeps its slots: one record
 * has one live thread, the free list's mutex orders the old thread's last writes
 * before the new thread's first reads, so every slot still has one writer.
 *
 * Taking credit back (a *sweep*, one at a time per pool under `sweep_lock`). The owner
 * changes its credit only inside a *section*:
 *
 *     owner thread                          sweeper
 *     busy = 1                              for each claimed slot: owner = LOCKED
 *     (compiler barrier)                    membarrier()   (a full fence on every CPU
 *     if (slot.owner != me)                                 running a thread of ours)
 *         busy = 0, use the shared path     for each previous owner: wait for busy == 0
 *     credit = credit -/+ bytes             move the credit of each locked slot to avail
 *     busy = 0 (release)                    owner = FREE (LOCKED for good at close)
 *
 * This is Dekker's mutual exclusion with the owner's fence paid by the sweeper: the
 * membarrier system call (MEMBARRIER_CMD_PRIVATE_EXPEDITED) makes every running thread
 * of the process execute a full memory barrier, and a thread that is not running gets
 * one at its context switch. So for the owner's pair (store busy, load owner) and the
 * sweeper's pair (store owner, load busy), at least one side sees the other's store:
 * either the owner sees LOCKED and leaves the credit alone, or the sweeper sees busy and
 * waits for the section, which contains no call and no loop, to end (its release store
 * of busy = 0 then publishes the last credit). No update is lost and no headroom is
 * counted twice. Where membarrier is unavailable (old kernel, seccomp) the owner sets
 * busy with an atomic exchange instead, a full fence, and the sweeper uses seq_cst
 * accesses: the same Dekker argument inside the C11 model, at the price of one locked
 * instruction per section. A sweep skips the membarrier when it locks no slot of another
 * thread (single-threaded use). After a sweep every slot is FREE and threads claim again
 * on their next allocation or free.
 *
 * Sweeps happen where all headroom must be found, never on the fast path: in the slow
 * path before asking the JVM, in shrink() and spill() and in close(). So they cost a
 * few microseconds at most once per JVM callback.
 *
 * Slow path. Only when neither the slot nor `avail` covers a charge does the thread take
 * the pool's growth mutex: it sweeps, tries `avail` again, and if the charge still does
 * not fit calls the JVM's reserve callback for exactly enough whole blocks to cover the
 * shortfall (a large allocation asks for its size rounded up to blocks). A grant is
 * added to `reserved` and `avail` and the charge is taken from it in one step, so another
 * thread cannot take the new bytes first. A denial leaves every counter as it was and
 * sets the error text (the Java side may already have put its own reason there through
 * dynoffheap_bridge_pool_set_error). (If other threads took a grant before this thread
 * could use it, the slow path asks again; when such a later request is denied, the
 * unused blocks beyond one go back at once.)
 *
 * Giving back (hysteresis): when a free leaves at least two whole unused blocks in
 * `avail`, the pool releases whole blocks down to one block of slack, so alloc/free
 * cycles around a block boundary do not call the JVM each time. shrink() returns every
 * whole unused block (after a sweep); spill() first asks the native side's spill
 * function to free memory, then shrinks.
 *
 * Locks: `grow_lock` is held across the reserve callback (at most one JVM reservation
 * per pool at a time); `acct_lock` is short and guards changes of `reserved`, the close
 * and the spill function; `sweep_lock` serialises sweeps. Order: grow_lock, acct_lock,
 * sweep_lock. No lock is held while the release callback or the spill function runs.
 * close() waits for releases in flight so the JVM has seen all of them when close
 * returns; set_spill() and close() wait for calls of the spill function in flight (other
 * than the caller's own), so the native side may free the function's context as soon as
 * they return.
 *
 * `used` is derived: reserved - avail - sum(credit). It is exact when the pool is at
 * rest; while other threads move headroom it is an estimate (the counters are read one
 * after another, not as one snapshot). `peak` is raised from that value at every event
 * that touches shared counters, and on the fast path too while only one slot is claimed
 * (single-threaded use), so it is exact in that case.
 *
 * Closing: close() sets `closed`, sweeps with the slots left LOCKED (so every later
 * section fails), swaps `avail` for a large negative value so no charge fits, releases
 * all reserved bytes to the JVM and returns what live allocations still hold (a leak).
 * That figure is exact even while other threads still allocate and free: a charge or
 * free either happened in a slot before the sweep (and is counted), or takes a shared
 * path that sees the pool closed; bytes that reach `avail` after the swap (a free that
 * had not seen `closed` yet) are taken off the closed pool's live count. The pool then
 * goes to a quarantine (see dynoffheap_bridge.h) so late calls on it are defined.
 *
 * Handles. A pool struct starts with GENERATIONS copies of the function-table pointer,
 * and the handle of the pool in it is the address of copy number `gen`, so native code
 * reads the table through any of them. The struct is aligned to the size of that array,
 * so a handle's struct is the handle with its low bits cleared and its generation is in
 * those bits. `handle` holds the current generation's handle (0 once the struct left
 * the quarantine); every operation compares it with the handle it was called with, one
 * load of a line it reads anyway, and a mismatch (a stale handle) changes nothing.
 * Structs are never freed: one that leaves the quarantine is *retired* (its locks
 * destroyed, its handle 0) and reused for a later pool in its next generation, so what
 * any handle points to is always readable, and the same handle value comes back only
 * after GENERATIONS reuses of its struct, each at least DYNOFFHEAP_QUARANTINE_SIZE closes
 * apart. Headers carry a mark derived from the struct and the generation, so a free
 * through a stale handle can still be checked and done.
 *
 * Debug mode (per pool, chosen at creation; see dynoffheap_bridge_set_debug) keeps a map
 * of live pointers per pool (to the size of a sized allocation, or a mark for one with a
 * header), which turns double frees, foreign pointers, wrong sizes and mixed-up frees
 * into reported errors without reading the memory in front of them. Without it, a free
 * checks the live mark in the header, a sized free the word in front of the pointer, and
 * sized allocations of at least DYNOFFHEAP_TRACKED_SIZE are in the map all the same (a
 * lock and a map update are small next to what such a block costs to fill; see "What
 * misuse is caught" in dynoffheap.h). A refused free is a *misuse*: counted, and the
 * first one kept for the Java side.
 * Sites: every entry of the live map also holds where it was allocated, the return
 * address of the public entry point (CALLER_SITE, read only on the cold paths that debug
 * mode takes, so the fast path is the same instructions as without sites), and a pool in
 * debug mode keeps a ring of its last FREED_RING frees with both sites. A refused free
 * names the allocation site, a double free also the first free's site from the ring; the
 * sites become text (dladdr) only then, outside the map's lock. close() groups the live
 * map by site into a leak report (leak_report) kept with the quarantined pool.
 * Set DYNOFFHEAP_NO_MEMBARRIER=1 in the environment to force the fenced owner path (the
 * tests run both).
 */
#define _GNU_SOURCE /* syscall(); also posix_memalign and pthreads */

#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <dlfcn.h>
#include <unistd.h>
#ifdef __NR_membarrier
#include <linux/membarrier.h>
#endif

#include "dynoffheap_bridge.h"

#include "ptrmap.h"

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((cold, noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* Where the public entry point that uses it was called from: the native caller's code,
 * since the wrappers of dynoffheap.h are inlined into it (see "Debug mode"). Taken only on
 * the cold paths, so the fast path never reads it. */
#define CALLER_SITE() __builtin_return_address(0)

_Static_assert(sizeof(size_t) >= sizeof(int64_t), "64-bit platforms only");
_Static_assert((DYNOFFHEAP_GENERATIONS & (DYNOFFHEAP_GENERATIONS - 1)) == 0,
               "generations: a power of two");
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
    uint64_t stamp;  /* low 32 bits, the check: LIVE_MAGIC or FREED_MAGIC, mixed with
                        the owning pool's tag; high 32 bits, the layout: low 26 bits the
                        offset of this header from malloc's pointer, high 6 bits log2 of
                        the alignment the caller asked for */
};
/* Check and layout share one 8-byte word so that a free marks the header with a single
 * 8-byte store. glibc's free() then reads the 8 bytes at offset 8 of a small chunk (its
 * tcache key); a load that a narrower store still in the store buffer covers only in
 * part cannot be forwarded and waits until that store reaches the cache (measured: about
 * 0.8 ns per 64-byte alloc+free when only the 4-byte check was rewritten). */

static inline uint64_t make_stamp(uint32_t check, uint32_t layout)
{
    return (uint64_t)layout << 32 | check;
}

static inline uint32_t stamp_check(uint64_t stamp)
{
    return (uint32_t)stamp;
}

static inline uint32_t stamp_layout(uint64_t stamp)
{
    return (uint32_t)(stamp >> 32);
}
_Static_assert(sizeof(struct alloc_header) == HEADER_SIZE, "header must be 16 bytes");

#define LIVE_MAGIC 0xD0F4EA9Bu
#define FREED_MAGIC 0x0FFEDEADu

/* ------------------------------------------------------------------------------------ */
/* Pool and thread records                                                              */
/* ------------------------------------------------------------------------------------ */

#define SLOTS 16u
#define CACHE_LINE 64
/* Slots and thread records sit 128 bytes apart: x86 L2 prefetchers fetch 64-byte lines
 * in adjacent pairs, which would make neighbours share traffic at 64. */
#define SPACING 128
/* Generations of one pool struct: its handle is &pub[generation] (see "Handles"). */
#define GENERATIONS ((unsigned)DYNOFFHEAP_GENERATIONS)
#define POOL_ALIGN (GENERATIONS * sizeof(dynoffheap_pool))
#define NAME_MAX_LEN 160 /* the pool's name in error texts, cut to fit */
#define CLOSED_AVAIL (INT64_MIN / 2)      /* `avail` of a closed pool: no charge fits */
#define SLOW_PATH_ROUNDS 8                /* reservations tried before giving up on a race */

/* Debug mode: recently freed blocks, so that a double free names its first free. */
#define FREED_RING 256u
struct freed_rec {
    const void *ptr;
    size_t value;            /* as in the live map */
    const void *alloc_site;
    const void *free_site;
};

/* Values of slot.owner other than a thread record's address. */
#define OWNER_FREE ((uintptr_t)0)
#define OWNER_LOCKED ((uintptr_t)1)

/* Headroom cached by one thread; see "Owning a slot" and "Taking credit back". */
struct slot {
    alignas(SPACING) _Atomic uintptr_t owner;
    _Atomic int64_t credit; /* written by the owner inside a section, or by a sweeper */
};

/* A thread's own state: written only by that thread, except that sweepers read `busy`. */
struct thread_rec {
    alignas(SPACING) _Atomic int busy; /* 1 inside a section */
    struct pool *pool;                 /* the pool used last, and this thread's slot */
    struct slot *slot;                 /* there (NULL: none was free) */
    uint64_t serial;                   /* `serial` of that pool */
    uint64_t sweeps;                   /* its `sweeps` when no slot was free */
    unsigned spread;                   /* where this thread starts looking for a slot */
    struct thread_rec *next_free;      /* free list, under g_rec_lock */
    struct thread_rec *next_all;       /* every record, so none looks leaked */
};

struct pool {
    /* Every entry points to the function table: native code reads it through whichever
     * generation's handle it holds. Never written after the struct's first creation. */
    dynoffheap_pool pub[GENERATIONS];

    /* Read-mostly fields, shared by all threads. */
    alignas(CACHE_LINE) _Atomic uintptr_t handle; /* &pub[gen] (| HANDLE_DEBUG in debug
                                                     mode) while this generation's pool is
                                                     open or quarantined, else 0 */
    uint32_t gen;         /* generation of the pool now in this struct */
    int debug;            /* the live map is kept (see "Debug mode") */
    int64_t id;           /* the Java side's pool id, passed to the callbacks */
    int64_t block;        /* reservation unit, bytes */
    int64_t quantum;      /* slot refill unit, bytes; larger charges bypass slots */
    uint64_t serial;      /* unique per pool in this process */
    uint32_t tag;         /* mixed into header magics so other pools' pointers stand out */
    uint32_t live_mark;   /* LIVE_MAGIC ^ tag, the check of a live header */
    int asymmetric;       /* owners rely on the sweeper's membarrier (else: fenced) */
    _Atomic int closed;
    _Atomic uint32_t active; /* bit i set: slot i was claimed since the last sweep */

    /* Pool-wide headroom: written on refills, large charges and reservations. */
    alignas(CACHE_LINE) _Atomic int64_t avail;

    alignas(CACHE_LINE) _Atomic int64_t reserved; /* changed only under acct_lock */
    _Atomic int64_t peak;
    _Atomic uint64_t sweeps; /* completed sweeps, so threads know when to claim again */

    struct slot slots[SLOTS];

    /* Cold state. */
    alignas(CACHE_LINE) pthread_mutex_t grow_lock;
    pthread_mutex_t acct_lock;
    pthread_mutex_t sweep_lock;
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
    char name[NAME_MAX_LEN];               /* under err_lock */
    int64_t misuses;                       /* under err_lock */
    char first_misuse[DYNOFFHEAP_ERROR_MAX]; /* under err_lock */

    /* Debug mode only (`debug`): */
    pthread_mutex_t live_lock;
    struct ptrmap live; /* every pointer handed out and not yet freed -> TRACK_HEADERED |
                           its charge or, for a sized allocation, its size; and the site
                           it was allocated from */
    struct freed_rec *freed; /* ring of the last FREED_RING frees, under live_lock (NULL:
                                none, e.g. not in debug mode) */
    uint64_t freed_count;    /* frees put in the ring so far, under live_lock */
    char *leak_report;       /* made at close in debug mode (malloc'd), under err_lock */
    struct pool *next_reuse; /* list of retired structs, under g_quarantine_lock */
};

/* The JVM callbacks shared by all pools. */
static _Atomic(dynoffheap_reserve_cb) g_reserve_cb;
static _Atomic(dynoffheap_release_cb) g_release_cb;

/* Closed pools kept as they are (ring buffer; the oldest is retired when a new one
 * arrives), and retired structs waiting for their next generation. */
static pthread_mutex_t g_quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *g_quarantine[DYNOFFHEAP_QUARANTINE_SIZE];
static size_t g_quarantine_next;
static struct pool *g_reuse;

/* Whether pools created from now on run in debug mode. */
#ifdef DYNOFFHEAP_DEBUG
static _Atomic int g_debug = 1;
#else
static _Atomic int g_debug = 0;
#endif

static _Atomic uint64_t g_pool_serial;

/* Process-wide setup, once: the thread-exit hook and the membarrier registration. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_rec_key;
static int g_rec_key_ok;
static int g_asymmetric;

/* Thread records: the free list and the list of all of them, under g_rec_lock. */
static pthread_mutex_t g_rec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_rec *g_rec_free;
static struct thread_rec *g_rec_all;
static unsigned g_rec_count;

/* The calling thread's record. initial-exec TLS keeps the lookup a single load; one
 * pointer is far below what glibc reserves for libraries loaded with dlopen. */
static _Thread_local struct thread_rec *tl_rec __attribute__((tls_model("initial-exec")));

/* The pool whose spill function the calling thread is running, if any. */
static _Thread_local struct pool *tl_spilling __attribute__((tls_model("initial-exec")));

static long membarrier_call(int cmd)
{
#ifdef __NR_membarrier
    return syscall(__NR_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    return -1;
#endif
}

static void rec_detach(void *arg);

/* An environment variable set to anything but "" or "0". */
static int env_flag(const char *name, int *value)
{
    const char *v = getenv(name);
    if (v == NULL)
        return 0;
    *value = v[0] != '\0' && strcmp(v, "0") != 0;
    return 1;
}

static void init_once(void)
{
    g_rec_key_ok = pthread_key_create(&g_rec_key, rec_detach) == 0;
    int flag;
    if (env_flag("DYNOFFHEAP_DEBUG", &flag))
        atomic_store(&g_debug, flag);
    if (env_flag("DYNOFFHEAP_NO_MEMBARRIER", &flag) && flag)
        return;
#ifdef __NR_membarrier
    long cmds = membarrier_call(MEMBARRIER_CMD_QUERY);
    /* Registered and tried once here: after that the command cannot fail. */
    g_asymmetric = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                   membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
                   membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
#endif
}

/* Gives the calling thread a record (a recycled one if any). NULL when memory is short:
 * the thread then uses the shared path. */
static COLD struct thread_rec *rec_attach(void)
{
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_rec_lock);
    struct thread_rec *r = g_rec_free;
    if (r != NULL)
        g_rec_free = r->next_free;
    pthread_mutex_unlock(&g_rec_lock);
    if (r == NULL) {
        void *mem = NULL;
        if (posix_memalign(&mem, alignof(struct thread_rec), sizeof(struct thread_rec)) != 0)
            return NULL;
        memset(mem, 0, sizeof(struct thread_rec));
        r = mem;
        pthread_mutex_lock(&g_rec_lock);
        r->spread = g_rec_count++ % SLOTS;
        r->next_all = g_rec_all;
        g_rec_all = r;
        pthread_mutex_unlock(&g_rec_lock);
    }
    r->pool = NULL;
    r->slot = NULL;
    /* Without the exit hook the record is never reused, which is safe. */
    if (g_rec_key_ok)
        pthread_setspecific(g_rec_key, r);
    tl_rec = r;
    return r;
}

/* Thread exit: the record, with whatever slots it owns, waits for the next thread. */
static void rec_detach(void *arg)
{
    struct thread_rec *r = arg;
    tl_rec = NULL;
    pthread_mutex_lock(&g_rec_lock);
    r->next_free = g_rec_free;
    g_rec_free = r;
    pthread_mutex_unlock(&g_rec_lock);
}

/* The struct behind a handle of any generation (pub[] is its first member). */
static inline struct pool *pool_of(dynoffheap_pool *pub)
{
    return (struct pool *)((uintptr_t)pub & ~(uintptr_t)(POOL_ALIGN - 1));
}

/* Bit of `handle` set for a pool in debug mode (handles are 8-byte aligned). */
#define HANDLE_DEBUG ((uintptr_t)1)

/* Whether `pub` is the handle of the pool now in its struct (open or quarantined). */
static ALWAYS_INLINE int is_current(const struct pool *p, const dynoffheap_pool *pub)
{
    return LIKELY((atomic_load_explicit(&p->handle, memory_order_acquire) & ~HANDLE_DEBUG) ==
                  (uintptr_t)pub);
}

/* is_current() and not in debug mode, the condition of every fast path: one load of a
 * read-mostly line that the call reads anyway, and one compare. */
static ALWAYS_INLINE int is_plain(const struct pool *p, const dynoffheap_pool *pub)
{
    return LIKELY(atomic_load_explicit(&p->handle, memory_order_acquire) == (uintptr_t)pub);
}

/* ------------------------------------------------------------------------------------ */
/* Error text                                                                           */
/* ------------------------------------------------------------------------------------ */

/* Stores an error text, with the pool's name appended when `named`; a misuse (a call
 * that has no way to return the failure, such as a bad free) is also counted, and the
 * first one kept for the Java side (dynoffheap_bridge_pool_misuses). */
static void store_error(struct pool *p, int named, int misuse, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&p->err_lock);
    int n = vsnprintf(p->err, sizeof p->err, fmt, ap);
    if (named && n >= 0 && (size_t)n < sizeof p->err)
        snprintf(p->err + n, sizeof p->err - (size_t)n, " (pool '%s')", p->name);
    p->err_seq++;
    if (misuse && p->misuses++ == 0)
        memcpy(p->first_misuse, p->err, sizeof p->err);
    pthread_mutex_unlock(&p->err_lock);
}

/* An error the call reports through its return value; the pool's name is appended. */
__attribute__((format(printf, 2, 3))) COLD
static void set_error(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store_error(p, 1, 0, fmt, ap);
    va_end(ap);
}

/* A misuse: as set_error(), and counted (see store_error). */
__attribute__((format(printf, 2, 3))) COLD
static void set_misuse(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store_error(p, 1, 1, fmt, ap);
    va_end(ap);
}

/* A text the Java side gives, stored as it is. */
static void set_error_text(struct pool *p, const char *text)
{
    pthread_mutex_lock(&p->err_lock);
    snprintf(p->err, sizeof p->err, "%s", text);
    p->err_seq++;
    pthread_mutex_unlock(&p->err_lock);
}

/* What every call on a stale handle reports: nothing of the pool can be stored. */
static size_t stale_error(const dynoffheap_pool *pub, char *buf, size_t len)
{
    char text[DYNOFFHEAP_ERROR_MAX];
    int n = snprintf(text, sizeof text,
                     "pool handle %p is stale: its pool was closed and at least %d pools "
                     "have been closed since; native code must drop a handle when the pool's "
                     "owner closes it", (const void *)pub, DYNOFFHEAP_QUARANTINE_SIZE);
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s", text);
    return n > 0 ? (size_t)n : 0;
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
    if (atomic_load(&p->closed)) {
        int64_t live = atomic_load(&p->closed_used); /* below 0 only during the close */
        return live > 0 ? live : 0;
    }
    int64_t credit = 0;
    for (unsigned i = 0; i < SLOTS; i++)
        credit += atomic_load_explicit(&p->slots[i].credit, memory_order_relaxed);
    int64_t used = atomic_load(&p->reserved) - atomic_load(&p->avail) - credit;
    return used > 0 ? used : 0;
}

static void sample_peak(struct pool *p)
{
    raise_peak(p, current_used(p));
}

/* Peak on the fast path: exact and cheap while slot s is the only one claimed. */
static inline void note_fast_charge(struct pool *p, struct slot *s, int64_t credit_after)
{
    uint32_t bit = 1u << (unsigned)(s - p->slots);
    if (atomic_load_explicit(&p->active, memory_order_relaxed) == bit) {
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

/* ------------------------------------------------------------------------------------ */
/* Slots: sections and sweeps                                                           */
/* ------------------------------------------------------------------------------------ */

/* Enters a section on slot s. Returns 1 when the calling thread (record r) owns s, with
 * r->busy set until section_end(); 0 (and busy clear) when it does not. */
static ALWAYS_INLINE int section_begin(const struct pool *p, struct thread_rec *r, struct slot *s)
{
    if (LIKELY(p->asymmetric)) {
        atomic_store_explicit(&r->busy, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the CPU fence is the sweeper's */
        if (LIKELY(atomic_load_explicit(&s->owner, memory_order_relaxed) == (uintptr_t)r))
            return 1;
    } else {
        atomic_exchange_explicit(&r->busy, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&s->owner, memory_order_seq_cst) == (uintptr_t)r)
            return 1;
    }
    atomic_store_explicit(&r->busy, 0, memory_order_release);
    return 0;
}

static ALWAYS_INLINE void section_end(struct thread_rec *r)
{
    atomic_store_explicit(&r->busy, 0, memory_order_release);
}

/* Finds the slot of record r in p: one r owns already, else a FREE one it claims.
 * Remembers the answer in r, also when there is none (until the next sweep). */
static COLD struct slot *find_slot(struct pool *p, struct thread_rec *r)
{
    uint64_t sweeps = atomic_load_explicit(&p->sweeps, memory_order_acquire);
    struct slot *found = NULL;
    for (unsigned i = 0; i < SLOTS && found == NULL; i++)
        if (atomic_load_explicit(&p->slots[i].owner, memory_order_relaxed) == (uintptr_t)r)
            found = &p->slots[i];
    for (unsigned k = 0; k < SLOTS && found == NULL; k++) {
        unsigned i = (r->spread + k) % SLOTS;
        uintptr_t expected = OWNER_FREE;
        if (atomic_load_explicit(&p->slots[i].owner, memory_order_relaxed) == OWNER_FREE &&
            atomic_compare_exchange_strong(&p->slots[i].owner, &expected, (uintptr_t)r)) {
            atomic_fetch_or(&p->active, 1u << i);
            found = &p->slots[i];
        }
    }
    r->pool = p;
    r->serial = p->serial;
    r->slot = found;
    r->sweeps = sweeps;
    return found;
}

/* The calling thread's record and its slot in p (NULL: use the shared path). */
static struct slot *my_slot(struct pool *p, struct thread_rec **rp)
{
    struct thread_rec *r = tl_rec;
    if (r == NULL && (r = rec_attach()) == NULL)
        return NULL;
    *rp = r;
    if (r->pool == p && r->serial == p->serial) {
        struct slot *s = r->slot;
        if (s != NULL ? atomic_load_explicit(&s->owner, memory_order_relaxed) == (uintptr_t)r
                      : r->sweeps == atomic_load_explicit(&p->sweeps, memory_order_relaxed))
            return s;
    }
    return find_slot(p, r);
}

/* Adds `bytes` (> 0) to the credit of slot s, which record r should own; what exceeds
 * 2 * quantum goes on to avail. Returns 0 when r does not own s (nothing changed). */
static void avail_put(struct pool *p, int64_t bytes);

static ALWAYS_INLINE int slot_put(struct pool *p, struct thread_rec *r, struct slot *s, int64_t bytes)
{
    if (UNLIKELY(!section_begin(p, r, s)))
        return 0;
    int64_t c = atomic_load_explicit(&s->credit, memory_order_relaxed) + bytes;
    int64_t keep = c <= 2 * p->quantum ? c : p->quantum;
    atomic_store_explicit(&s->credit, keep, memory_order_relaxed);
    section_end(r);
    if (UNLIKELY(keep != c))
        avail_put(p, c - keep);
    return 1;
}

/* Moves the credit of every claimed slot into avail (see "Taking credit back"). With
 * `close` every slot stays LOCKED afterwards, so no section succeeds any more. */
static void sweep_slots(struct pool *p, int close)
{
    struct thread_rec *self = tl_rec;
    uintptr_t prev[SLOTS]; /* owner before this sweep; OWNER_LOCKED: not locked by it */
    int others = 0;
    pthread_mutex_lock(&p->sweep_lock);
    for (unsigned i = 0; i < SLOTS; i++) {
        _Atomic uintptr_t *owner = &p->slots[i].owner;
        uintptr_t o = atomic_load(owner);
        prev[i] = OWNER_LOCKED;
        if (o == OWNER_LOCKED || (o == OWNER_FREE && !close))
            continue; /* closed already, or nothing to take (FREE slots hold no credit) */
        prev[i] = atomic_exchange(owner, OWNER_LOCKED);
        others |= prev[i] != OWNER_FREE && prev[i] != OWNER_LOCKED &&
                  prev[i] != (uintptr_t)self;
    }
    if (others && p->asymmetric)
        membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    int64_t taken = 0;
    uint32_t locked = 0;
    for (unsigned i = 0; i < SLOTS; i++) {
        if (prev[i] == OWNER_LOCKED)
            continue;
        if (prev[i] != OWNER_FREE) { /* wait for a section that saw the old owner */
            struct thread_rec *r = (struct thread_rec *)prev[i];
            while (atomic_load(&r->busy) != 0)
                sched_yield();
        }
        taken += atomic_load_explicit(&p->slots[i].credit, memory_order_relaxed);
        atomic_store_explicit(&p->slots[i].credit, 0, memory_order_relaxed);
        locked |= 1u << i;
    }
    if (taken != 0)
        atomic_fetch_add(&p->avail, taken);
    atomic_fetch_and(&p->active, ~locked);
    for (unsigned i = 0; i < SLOTS && !close; i++)
        if (locked & (1u << i))
            atomic_store_explicit(&p->slots[i].owner, OWNER_FREE, memory_order_release);
    atomic_fetch_add_explicit(&p->sweeps, 1, memory_order_release);
    pthread_mutex_unlock(&p->sweep_lock);
}

/* ------------------------------------------------------------------------------------ */
/* Charging                                                                             */
/* ------------------------------------------------------------------------------------ */

/* Releases whole blocks of avail to the JVM, keeping `keep_blocks` whole blocks unused;
 * with `sweep` it first collects the slots' credit. Returns the bytes released. */
static int64_t release_blocks(struct pool *p, int64_t keep_blocks, int sweep)
{
    pthread_mutex_lock(&p->acct_lock);
    if (atomic_load(&p->closed)) {
        pthread_mutex_unlock(&p->acct_lock);
        return 0;
    }
    if (sweep)
        sweep_slots(p, 0);
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

/* Gives `bytes` of headroom back to avail, applying the hysteresis rule: two whole
 * unused blocks trigger a release down to one. On a closed pool (avail swapped for
 * CLOSED_AVAIL) the close counted these bytes as live, so they leave the live count. */
static void avail_put(struct pool *p, int64_t bytes)
{
    int64_t a = atomic_fetch_add(&p->avail, bytes) + bytes;
    if (UNLIKELY(a < CLOSED_AVAIL / 2))
        atomic_fetch_sub(&p->closed_used, bytes);
    else if (a >= 2 * p->block)
        release_blocks(p, 1, 0);
}

/* Slow path of charge(): see "Slow path" in the header comment. */
static int charge_slow(struct pool *p, int64_t bytes, const char *what, int64_t requested)
{
    pthread_mutex_lock(&p->grow_lock);
    int granted_before = 0;
    for (int round = 0; round < SLOW_PATH_ROUNDS; round++) {
        if (atomic_load(&p->closed)) {
            pthread_mutex_unlock(&p->grow_lock);
            set_error(p, "pool closed: %s of %lld bytes refused", what,
                      (long long)requested);
            return -1;
        }
        sweep_slots(p, 0);
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
            set_error(p, "%s: size %lld is above the largest size the pool can account "
                      "for: it would have to reserve more than INT64_MAX bytes in whole "
                      "blocks of %lld", what, (long long)requested, (long long)p->block);
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
                set_error(p, "%s of %lld bytes denied: no JVM callbacks are registered",
                          what, (long long)requested);
            else if (error_seq(p) == seq) /* the JVM side gave no reason of its own */
                set_error(p, "%s of %lld bytes denied: the JVM refused to reserve %lld more "
                          "bytes (used %lld, reserved %lld, block %lld)", what,
                          (long long)requested, (long long)ask,
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
              "bytes", what, (long long)requested);
    return -1;
}

/* Everything of charge() but its fast path: a closed pool, a slot refill or claim, a
 * charge larger than a quantum or without a slot, and the slow path. */
static __attribute__((noinline)) int charge_refill(struct pool *p, int64_t bytes,
                                                   const char *what, int64_t requested)
{
    if (atomic_load(&p->closed)) {
        set_error(p, "pool closed: %s of %lld bytes refused", what,
                  (long long)requested);
        return -1;
    }
    struct thread_rec *r = NULL;
    struct slot *s = bytes <= p->quantum ? my_slot(p, &r) : NULL;
    int64_t got = draw(p, bytes, s != NULL ? p->quantum : bytes);
    if (got > 0) {
        /* Keep the rest of the quantum; if a sweep took the slot meanwhile, return it. */
        if (got > bytes && !slot_put(p, r, s, got - bytes))
            avail_put(p, got - bytes);
        sample_peak(p);
        return 0;
    }
    return charge_slow(p, bytes, what, requested);
}

/* Charges `bytes` (> 0) to the pool. Returns 0, or -1 with the error text set. The fast
 * path is a section on the calling thread's slot: plain loads and stores. */
static ALWAYS_INLINE int charge(struct pool *p, int64_t bytes, const char *what, int64_t requested)
{
    struct thread_rec *r = tl_rec;
    if (LIKELY(r != NULL && r->pool == p && r->slot != NULL && bytes <= p->quantum)) {
        struct slot *s = r->slot;
        if (LIKELY(section_begin(p, r, s))) {
            int64_t c = atomic_load_explicit(&s->credit, memory_order_relaxed);
            if (LIKELY(c >= bytes)) {
                atomic_store_explicit(&s->credit, c - bytes, memory_order_relaxed);
                section_end(r);
                note_fast_charge(p, s, c - bytes);
                return 0;
            }
            section_end(r);
        }
    }
    return charge_refill(p, bytes, what, requested);
}

/* Everything of uncharge() but its fast path: a closed pool, a slot claim, more than a
 * quantum or no slot. */
static __attribute__((noinline)) void uncharge_slow(struct pool *p, int64_t bytes)
{
    if (atomic_load(&p->closed)) {
        atomic_fetch_sub(&p->closed_used, bytes);
        return;
    }
    struct thread_rec *r = NULL;
    struct slot *s = bytes <= p->quantum ? my_slot(p, &r) : NULL;
    if (s == NULL || !slot_put(p, r, s, bytes))
        avail_put(p, bytes);
}

/* Gives `bytes` back to the pool's headroom (or to the closed pool's live count). The
 * fast path is a section on the calling thread's slot. */
static ALWAYS_INLINE void uncharge(struct pool *p, int64_t bytes)
{
    struct thread_rec *r = tl_rec;
    if (LIKELY(r != NULL && r->pool == p && r->slot != NULL && bytes <= p->quantum) &&
        LIKELY(slot_put(p, r, r->slot, bytes)))
        return;
    uncharge_slow(p, bytes);
}

/* ------------------------------------------------------------------------------------ */
/* Live-pointer checks                                                                  */
/* ------------------------------------------------------------------------------------ */

/* The check half of a header stamp for pool generation `gen` of struct p. Bit 3 is that
 * of the magics (set): glibc's chunk size word, a multiple of 16 plus three flag bits,
 * never has it, so a sized allocation's word in front never passes as a header. */
static inline uint32_t tag_of(const struct pool *p, uint32_t gen)
{
    uint64_t mix = ((uint64_t)(uintptr_t)p + gen) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(mix >> 32) & ~8u;
}

static inline uint32_t live_check(const struct pool *p)
{
    return p->live_mark;
}

static inline uint32_t freed_check(const struct pool *p)
{
    return FREED_MAGIC ^ p->tag;
}

/* Reads 8 bytes that may be outside any block the sanitizer knows (a malloc chunk's size
 * word, or memory freed already); the builds with AddressSanitizer or ThreadSanitizer do
 * not check it. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
static __attribute__((no_sanitize("address", "thread"), noinline))
#else
static ALWAYS_INLINE
#endif
uint64_t read_word(const void *at)
{
    uint64_t w;
    memcpy(&w, at, sizeof w);
    return w;
}

/* What the live map holds for an allocation with a header: this bit or'ed with the bytes
 * it was charged; a sized allocation maps to its size, which is at most INT64_MAX (the bit
 * clear). The map holds every allocation of a pool in debug mode, and in any mode the
 * sized ones of at least DYNOFFHEAP_TRACKED_SIZE bytes, each with the site it came from. */
#define TRACK_HEADERED ((size_t)1 << 63)

/* Bytes an entry of the live map stands for. */
static inline size_t tracked_bytes(size_t value)
{
    return value & ~TRACK_HEADERED;
}

/* Records `user` as live with `value` (TRACK_HEADERED | charge, or the size of a sized
 * allocation), allocated from `site`. Returns 0 when the live map had no memory for it. */
static int track(struct pool *p, void *user, size_t value, const void *site)
{
    pthread_mutex_lock(&p->live_lock);
    int ok = ptrmap_put(&p->live, user, value, site) == 0;
    pthread_mutex_unlock(&p->live_lock);
    return ok;
}

/* Writes "symbol+0xoff (library)" for a code address, as dladdr sees it: a symbol only
 * when the code's object exports it (a shared library's global functions; an executable's
 * only when linked with -rdynamic), else "library+0xoff" from the object's load address,
 * which `addr2line -e library 0xoff` turns into a line (for a shared object or a PIE).
 * The lookup uses the address before the return address, so that a call that is the last
 * instruction of a function is found in that function. */
static COLD void format_site(const void *site, char *buf, size_t len)
{
    Dl_info info;
    if (site == NULL) {
        snprintf(buf, len, "an unknown site");
        return;
    }
    if (dladdr((const char *)site - 1, &info) == 0 || info.dli_fname == NULL) {
        snprintf(buf, len, "%p (no library)", site);
        return;
    }
    const char *lib = strrchr(info.dli_fname, '/');
    lib = lib != NULL ? lib + 1 : info.dli_fname;
    if (lib[0] == '\0')
        lib = "main program";
    if (info.dli_sname != NULL && info.dli_saddr != NULL)
        snprintf(buf, len, "%s+0x%tx (%s)", info.dli_sname,
                 (const char *)site - (const char *)info.dli_saddr, lib);
    else
        snprintf(buf, len, "%s+0x%tx", lib, (const char *)site - (const char *)info.dli_fbase);
}

#define SITE_TEXT_MAX 160 /* one formatted site, cut to fit */

static COLD struct alloc_header *bad_pointer(struct pool *p, void *user, const char *what,
                                            const char *why)
{
    set_misuse(p, "%s: %p %s", what, user, why);
    return NULL;
}

/* Puts a successful free in the ring of recent frees (debug mode; under live_lock). */
static void note_freed(struct pool *p, const void *user, struct ptrmap_val v, const void *site)
{
    if (p->freed == NULL)
        return;
    struct freed_rec *r = &p->freed[p->freed_count++ % FREED_RING];
    r->ptr = user;
    r->value = v.value;
    r->alloc_site = v.site;
    r->free_site = site;
}

/* The most recent free of `user` in the ring (under live_lock): 1 and *out, or 0. */
static int find_freed(const struct pool *p, const void *user, struct freed_rec *out)
{
    if (p->freed == NULL)
        return 0;
    uint64_t n = p->freed_count < FREED_RING ? p->freed_count : FREED_RING;
    for (uint64_t k = 1; k <= n; k++) {
        const struct freed_rec *r = &p->freed[(p->freed_count - k) % FREED_RING];
        if (r->ptr == user) {
            *out = *r;
            return 1;
        }
    }
    return 0;
}

/* The text of a refused free or realloc that the live map caught (see untrack_live). */
#define WHY_MAX 400

/*
 * Checks in the live map that `user` is a live allocation of this pool of the kind
 * `expect` (TRACK_HEADERED: one with a header; else a sized one of that size), and with
 * `untrack` removes it in the same step, so two threads freeing one pointer cannot both
 * pass; `site` is where the free was called from, kept in the ring of recent frees.
 * Returns NULL when it is, else `why` filled with the reason: where the block was
 * allocated when the map knows it, and for a double free where it was first freed when
 * the ring still holds that free.
 */
static COLD const char *untrack_live(struct pool *p, void *user, size_t expect, int untrack,
                                     const void *site, char *why, size_t why_len)
{
    struct ptrmap_val found = {0, NULL};
    struct freed_rec freed;
    int was_freed = 0;
    pthread_mutex_lock(&p->live_lock);
    int member = ptrmap_get(&p->live, user, &found);
    int match = member && (expect == TRACK_HEADERED ? (found.value & TRACK_HEADERED) != 0
                                                    : found.value == expect);
    if (match && untrack) {
        ptrmap_remove(&p->live, user);
        note_freed(p, user, found, site);
    }
    if (!member)
        was_freed = find_freed(p, user, &freed);
    pthread_mutex_unlock(&p->live_lock);
    if (match)
        return NULL;

    char allocated[SITE_TEXT_MAX], first_free[SITE_TEXT_MAX];
    if (was_freed) {
        format_site(freed.alloc_site, allocated, sizeof allocated);
        format_site(freed.free_site, first_free, sizeof first_free);
        snprintf(why, why_len, "was already freed (double free): allocated at %s, first "
                 "freed at %s", allocated, first_free);
    } else if (!member) {
        snprintf(why, why_len, "%s", expect == TRACK_HEADERED
                 ? "is not a live allocation of this pool (double free or foreign pointer)"
                 : "is not a live allocation of this pool (double free, foreign pointer, or "
                   "a size other than the one it was allocated with)");
    } else {
        format_site(found.site, allocated, sizeof allocated);
        if (found.value & TRACK_HEADERED)
            snprintf(why, why_len, "came from dynoffheap_alloc, not from a sized allocation "
                     "(free it with dynoffheap_free); allocated at %s", allocated);
        else if (expect == TRACK_HEADERED)
            snprintf(why, why_len, "is a sized allocation (free it with "
                     "dynoffheap_free_sized); allocated at %s", allocated);
        else
            snprintf(why, why_len, "is a sized allocation of another size: %zu bytes, freed "
                     "with size %zu; allocated at %s", found.value, expect, allocated);
    }
    return why;
}

/* Why a header check failed, from what the 16 bytes in front and the first payload bytes
 * hold (memory that may be freed: a best effort; see dynoffheap.h). */
static COLD struct alloc_header *bad_header(struct pool *p, void *user, const char *what,
                                           uint32_t check)
{
    if (check == freed_check(p) || stamp_check(read_word(user)) == freed_check(p))
        return bad_pointer(p, user, what, "was already freed (double free)");
    return bad_pointer(p, user, what,
                       "is not a live allocation of this pool: it was freed already (double "
                       "free), comes from another pool or from dynoffheap_alloc_sized, or not "
                       "from a pool at all (the 16 bytes in front of it hold no live mark of "
                       "this pool; debug mode tells which)");
}

/*
 * Finds the header of `user` and checks that it is a live allocation of this pool; with
 * `debug`, in the live map first, and with `untrack` (free) it also drops it from the map
 * in the same step (`site`: where the free was called). Returns the header or NULL with
 * the error text set.
 */
static ALWAYS_INLINE struct alloc_header *live_header(struct pool *p, void *user, const char *what,
                                               int debug, int untrack, const void *site)
{
    if (UNLIKELY(((uintptr_t)user & 15u) != 0))
        return bad_pointer(p, user, what, "is not 16-byte aligned: not allocated by this pool");
    if (debug) {
        char buf[WHY_MAX];
        const char *why = untrack_live(p, user, TRACK_HEADERED, untrack, site, buf, sizeof buf);
        if (why != NULL)
            return bad_pointer(p, user, what, why);
    }
    struct alloc_header *h = (struct alloc_header *)((char *)user - HEADER_SIZE);
    uint32_t check = stamp_check(read_word(&h->stamp));
    if (LIKELY(check == live_check(p)))
        return h;
    return bad_header(p, user, what, check);
}

/* ------------------------------------------------------------------------------------ */
/* Pool operations (the function table)                                                 */
/* ------------------------------------------------------------------------------------ */

/* Size `size` of a call `what` is 0 or above `max`. */
static COLD void *bad_size(struct pool *p, size_t size, size_t max, const char *what)
{
    if (size == 0)
        set_error(p, "%s: size 0 is not a valid allocation (size must be at least 1)", what);
    else
        set_error(p, "%s: size %zu is above the largest size the pool can account for, %zu "
                  "(INT64_MAX minus the header and alignment padding); a negative size "
                  "converted to size_t reads as such a value", what, size, max);
    return NULL;
}

static COLD void *malloc_failed(struct pool *p, int64_t total, const char *what)
{
    uncharge(p, total);
    set_error(p, "%s: malloc of %lld bytes failed", what, (long long)total);
    return NULL;
}

static COLD void *untracked(struct pool *p, const char *what)
{
    set_error(p, "%s: no memory for the live-pointer set", what);
    return NULL;
}

/* Allocates with a header; `debug`: records it in the live map with `site`. */
static ALWAYS_INLINE void *alloc_impl(struct pool *p, size_t alignment, size_t size,
                                      const char *what, int debug, const void *site)
{
    unsigned align_log2 = DEFAULT_ALIGN_LOG2;
    size_t overhead = HEADER_SIZE;
    if (alignment > HEADER_SIZE) {
        align_log2 = (unsigned)__builtin_ctzll((unsigned long long)alignment);
        overhead = alignment; /* header + worst-case padding */
    }
    /* One test for both: size 0 wraps around to the largest value. */
    if (UNLIKELY(size - 1 >= (size_t)INT64_MAX - overhead))
        return bad_size(p, size, (size_t)INT64_MAX - overhead, what);
    int64_t total = (int64_t)(size + overhead);
    if (charge(p, total, what, (int64_t)size) != 0)
        return NULL;

    char *raw = malloc((size_t)total);
    if (UNLIKELY(raw == NULL))
        return malloc_failed(p, total, what);
    char *user = raw + HEADER_SIZE;
    if (alignment > HEADER_SIZE)
        user = (char *)(((uintptr_t)user + alignment - 1) & ~(uintptr_t)(alignment - 1));
    struct alloc_header *h = (struct alloc_header *)(user - HEADER_SIZE);
    h->charged = total;
    h->stamp = make_stamp(live_check(p),
                          (align_log2 << LAYOUT_OFFSET_BITS) | (uint32_t)((char *)h - raw));

    if (debug && UNLIKELY(!track(p, user, TRACK_HEADERED | (size_t)total, site))) {
        free(raw);
        uncharge(p, total);
        return untracked(p, what);
    }
    return user;
}

/* Every operation starts here: a handle of an older generation of its struct (a pool
 * closed long ago) changes nothing and reads nothing of the pool now in the struct. The
 * hot ones test is_plain() instead and leave both stale handles and debug mode to a cold
 * twin (the *_checked functions). */
#define STALE(pub) UNLIKELY(!is_current(pool_of(pub), (pub)))

static COLD void *alloc_checked(dynoffheap_pool *pub, size_t size, const void *site)
{
    return STALE(pub) ? NULL : alloc_impl(pool_of(pub), HEADER_SIZE, size, "alloc", 1, site);
}

static void *op_alloc(dynoffheap_pool *pub, size_t size)
{
    struct pool *p = pool_of(pub);
    if (UNLIKELY(!is_plain(p, pub)))
        return alloc_checked(pub, size, CALLER_SITE());
    return alloc_impl(p, HEADER_SIZE, size, "alloc", 0, NULL);
}

/* Returns the alignment to use (at least 16), or 0 with the error text set when
 * `alignment` is not a power of two up to DYNOFFHEAP_MAX_ALIGNMENT. */
static size_t checked_alignment(struct pool *p, size_t alignment, const char *what)
{
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 ||
        alignment > DYNOFFHEAP_MAX_ALIGNMENT) {
        set_error(p, "%s: alignment %zu is not a power of two of at most %zu "
                  "(DYNOFFHEAP_MAX_ALIGNMENT)", what, alignment,
                  (size_t)DYNOFFHEAP_MAX_ALIGNMENT);
        return 0;
    }
    return alignment < HEADER_SIZE ? HEADER_SIZE : alignment;
}

static void *op_alloc_aligned(dynoffheap_pool *pub, size_t alignment, size_t size)
{
    if (STALE(pub))
        return NULL;
    struct pool *p = pool_of(pub);
    size_t align = checked_alignment(p, alignment, "alloc_aligned");
    return align != 0 ? alloc_impl(p, align, size, "alloc_aligned", p->debug, CALLER_SITE())
                      : NULL;
}

/* Frees an allocation whose header was checked (and, in debug mode, untracked): marks it
 * freed, in the header and in its first 8 payload bytes, where glibc's free lists do not
 * write for small chunks (they use the 16 header bytes), so that a second free is told
 * apart from a foreign pointer as a best effort; then hands it to free(). `account` is 0
 * for one of a stale handle, whose pool gave all its bytes back at close. The bytes are
 * uncharged just before free() rather than after: malloc keeps freed memory for reuse
 * anyway, and free() becomes a tail call. */
static ALWAYS_INLINE void release_allocation(struct pool *p, struct alloc_header *h,
                                             uint32_t tag, int account)
{
    int64_t charged = h->charged;
    uint32_t layout = stamp_layout(h->stamp);
    uint32_t offset = layout & LAYOUT_OFFSET_MASK; /* of the header from malloc's pointer */
    uint64_t freed = make_stamp(FREED_MAGIC ^ tag, layout);
    h->stamp = freed;
    if (LIKELY(charged - (int64_t)offset >= HEADER_SIZE + 8)) /* 8 payload bytes exist */
        memcpy(h + 1, &freed, sizeof freed);
    if (account)
        uncharge(p, charged);
    free((char *)h - offset);
}

/* Index of handle `pub` in its struct's pub[], its generation. */
static inline uint32_t generation_of(const dynoffheap_pool *pub)
{
    return (uint32_t)(((uintptr_t)pub & (POOL_ALIGN - 1)) / sizeof(dynoffheap_pool));
}

/* A free through a stale handle: the memory is freed when its header carries the live
 * mark of the handle's generation (the pool stopped counting it at close); anything
 * else is left alone, as there is no pool left to report it to. */
static COLD void free_stale(dynoffheap_pool *pub, void *user)
{
    if (((uintptr_t)user & 15u) != 0)
        return;
    uint32_t tag = tag_of(pool_of(pub), generation_of(pub));
    struct alloc_header *h = (struct alloc_header *)((char *)user - HEADER_SIZE);
    if (stamp_check(read_word(&h->stamp)) == (LIVE_MAGIC ^ tag))
        release_allocation(NULL, h, tag, 0);
}

static COLD void free_checked(dynoffheap_pool *pub, void *user, const void *site)
{
    if (STALE(pub)) {
        free_stale(pub, user);
        return;
    }
    struct pool *p = pool_of(pub);
    struct alloc_header *h = live_header(p, user, "free", 1, 1, site);
    if (h != NULL)
        release_allocation(p, h, p->tag, 1);
}

/* A free of a non-NULL pointer on behalf of a caller at `site`, which only the cold path
 * (debug mode, a stale handle) reads. */
static void free_for(dynoffheap_pool *pub, void *user, const void *site)
{
    struct pool *p = pool_of(pub);
    if (UNLIKELY(!is_plain(p, pub))) {
        free_checked(pub, user, site);
        return;
    }
    struct alloc_header *h = live_header(p, user, "free", 0, 1, NULL);
    if (h != NULL)
        release_allocation(p, h, p->tag, 1);
}

static void op_free(dynoffheap_pool *pub, void *user)
{
    if (user != NULL)
        free_for(pub, user, CALLER_SITE());
}

/* Records a new sized allocation in the live map; when the map has no memory for it,
 * the allocation is undone and fails. */
static COLD void *track_sized(struct pool *p, void *mem, size_t size, const char *what,
                              const void *site)
{
    if (track(p, mem, size, site))
        return mem;
    free(mem);
    uncharge(p, (int64_t)size);
    return untracked(p, what);
}

/*
 * Sized allocations carry no header: the pool charges exactly the `size` it asks of
 * malloc (or of posix_memalign above 16-byte alignment) and returns malloc's pointer,
 * and the caller passes the same size back to op_free_sized(). That keeps a small
 * request in malloc's size class and the free a tail call into free().
 */
static ALWAYS_INLINE void *sized_impl(struct pool *p, size_t alignment, size_t size,
                                      const char *what, int debug, const void *site)
{
    if (UNLIKELY(size - 1 >= (size_t)INT64_MAX)) /* size 0 wraps around */
        return bad_size(p, size, (size_t)INT64_MAX, what);
    if (charge(p, (int64_t)size, what, (int64_t)size) != 0)
        return NULL;
    void *mem = NULL;
    if (alignment <= HEADER_SIZE)
        mem = malloc(size);
    else if (posix_memalign(&mem, alignment, size) != 0)
        mem = NULL;
    if (UNLIKELY(mem == NULL))
        return malloc_failed(p, (int64_t)size, what);

    if (debug || UNLIKELY(size >= DYNOFFHEAP_TRACKED_SIZE))
        return track_sized(p, mem, size, what, site);
    return mem;
}

/* Whether a sized call leaves the fast path for its size: 0 (it wraps around), above
 * INT64_MAX, or recorded in the live map (see sized_impl). One compare. */
static ALWAYS_INLINE int unusual_size(size_t size)
{
    return UNLIKELY(size - 1 >= DYNOFFHEAP_TRACKED_SIZE - 1);
}

static COLD void *alloc_sized_checked(dynoffheap_pool *pub, size_t size, const void *site)
{
    if (STALE(pub))
        return NULL;
    struct pool *p = pool_of(pub);
    return sized_impl(p, HEADER_SIZE, size, "alloc_sized", p->debug, site);
}

static void *op_alloc_sized(dynoffheap_pool *pub, size_t size)
{
    struct pool *p = pool_of(pub);
    if (UNLIKELY(!is_plain(p, pub)) || unusual_size(size))
        return alloc_sized_checked(pub, size, CALLER_SITE());
    return sized_impl(p, HEADER_SIZE, size, "alloc_sized", 0, NULL);
}

static void *op_alloc_sized_aligned(dynoffheap_pool *pub, size_t alignment, size_t size)
{
    if (STALE(pub))
        return NULL;
    struct pool *p = pool_of(pub);
    size_t align = checked_alignment(p, alignment, "alloc_sized_aligned");
    return align != 0 ? sized_impl(p, align, size, "alloc_sized_aligned", p->debug,
                                   CALLER_SITE())
                      : NULL;
}

/* Why a sized free was refused before anything was freed. */
static COLD void bad_sized_free(struct pool *p, void *ptr, size_t size, const char *why)
{
    if (why != NULL)
        bad_pointer(p, ptr, "free_sized", why);
    else if (((uintptr_t)ptr & 15u) != 0)
        bad_pointer(p, ptr, "free_sized", "is not 16-byte aligned: not allocated by this pool");
    else
        set_misuse(p, "free_sized: size %zu of %p cannot be a sized allocation's (size must "
                   "be at least 1 and at most %lld)", size, ptr, (long long)INT64_MAX);
}

/* Whether no sized allocation can have this pointer and size. */
static inline int impossible_sized(const void *ptr, size_t size)
{
    return ((uintptr_t)ptr & 15u) != 0 || size - 1 >= (size_t)INT64_MAX; /* 0 wraps around */
}

/* Smallest page size of the platforms supported: memory on the page of a live block is
 * mapped. */
#define MIN_PAGE 4096u

/* Whether the word in front of `ptr` is a live header mark with check `live` (glibc's
 * chunk size word of a sized allocation never is, see tag_of). The word is read only when
 * it is on the page of `ptr`: an allocator without a word in front of its blocks (jemalloc,
 * a sanitizer's) may start one at an unmapped page boundary, so a pointer at the start of
 * a page is taken as not having a header. */
static ALWAYS_INLINE int has_header(const void *ptr, uint32_t live)
{
    return ((uintptr_t)ptr & (MIN_PAGE - 1)) >= 8 &&
           stamp_check(read_word((const char *)ptr - 8)) == live;
}

/* A sized free that the live map checks: in debug mode, and for every size of at least
 * DYNOFFHEAP_TRACKED_SIZE (which sized_impl records in the map in any mode). */
static COLD void free_sized_tracked(struct pool *p, void *ptr, size_t size, const void *site)
{
    char buf[WHY_MAX];
    const char *why = untrack_live(p, ptr, size, 1, site, buf, sizeof buf);
    if (why != NULL) {
        bad_sized_free(p, ptr, size, why);
        return;
    }
    uncharge(p, (int64_t)size);
    free(ptr);
}

/* Frees a sized allocation of a current pool. Always refused, with nothing freed: a
 * misaligned pointer, a size no sized allocation can have, and a live allocation with a
 * header; with `debug` or a large size, what free_sized_tracked() refuses. */
static ALWAYS_INLINE void free_sized_impl(struct pool *p, void *ptr, size_t size, int debug,
                                          const void *site)
{
    if (UNLIKELY(impossible_sized(ptr, size))) {
        bad_sized_free(p, ptr, size, NULL);
        return;
    }
    if (debug || UNLIKELY(size >= DYNOFFHEAP_TRACKED_SIZE)) {
        free_sized_tracked(p, ptr, size, site);
        return;
    }
    if (UNLIKELY(has_header(ptr, live_check(p)))) {
        bad_sized_free(p, ptr, size, "came from dynoffheap_alloc, not from a sized allocation "
                       "(free it with dynoffheap_free)");
        return;
    }
    uncharge(p, (int64_t)size);
    free(ptr); /* a tail call, as in release_allocation() */
}

/* A sized free off the fast path: debug mode, an unusual size, a stale handle. A stale
 * handle frees what passes the checks that need no pool, without accounting (its pool
 * counted nothing after close); there is no pool left to report the rest to. */
static COLD void free_sized_checked(dynoffheap_pool *pub, void *ptr, size_t size,
                                    const void *site)
{
    if (!STALE(pub)) {
        struct pool *p = pool_of(pub);
        free_sized_impl(p, ptr, size, p->debug, site);
        return;
    }
    uint32_t tag = tag_of(pool_of(pub), generation_of(pub));
    if (!impossible_sized(ptr, size) && !has_header(ptr, LIVE_MAGIC ^ tag))
        free(ptr);
}

static void op_free_sized(dynoffheap_pool *pub, void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    struct pool *p = pool_of(pub);
    if (UNLIKELY(!is_plain(p, pub)) || unusual_size(size)) {
        free_sized_checked(pub, ptr, size, CALLER_SITE());
        return;
    }
    free_sized_impl(p, ptr, size, 0, NULL);
}


/* In debug mode the live map's site of a block is that of the call that last gave it its
 * size: the allocation, or the realloc that moved or resized it. */
static void *op_realloc(dynoffheap_pool *pub, void *user, size_t size)
{
    if (STALE(pub))
        return NULL; /* `user` stays as it was */
    const void *site = CALLER_SITE();
    struct pool *p = pool_of(pub);
    if (user == NULL)
        return alloc_impl(p, HEADER_SIZE, size, "realloc", p->debug, site);
    if (size == 0) {
        free_for(pub, user, site);
        return NULL;
    }
    struct alloc_header *h = live_header(p, user, "realloc", p->debug, 0, site);
    if (h == NULL)
        return NULL;

    size_t alignment = (size_t)1 << (stamp_layout(h->stamp) >> LAYOUT_OFFSET_BITS);
    size_t overhead = alignment > HEADER_SIZE ? alignment : HEADER_SIZE;
    int64_t old_total = h->charged;
    size_t old_size = (size_t)old_total - overhead;

    if (alignment > HEADER_SIZE) {
        /* Over-aligned: allocate, copy, free (the old block stays valid on failure). */
        void *fresh = alloc_impl(p, alignment, size, "realloc", p->debug, site);
        if (fresh == NULL)
            return NULL;
        memcpy(fresh, user, old_size < size ? old_size : size);
        free_for(pub, user, site);
        return fresh;
    }

    if (size > (size_t)INT64_MAX - HEADER_SIZE) {
        bad_size(p, size, (size_t)INT64_MAX - HEADER_SIZE, "realloc");
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
        set_error(p, "realloc: malloc of %lld bytes failed", (long long)new_total);
        return NULL;
    }
    ((struct alloc_header *)moved)->charged = new_total;
    if (new_total < old_total)
        uncharge(p, old_total - new_total);

    if (p->debug) { /* the new charge and site; a move frees the old address */
        pthread_mutex_lock(&p->live_lock);
        struct ptrmap_val old = {TRACK_HEADERED | (size_t)old_total, NULL};
        if (moved != raw) {
            ptrmap_get(&p->live, user, &old);
            ptrmap_remove(&p->live, user);
            note_freed(p, user, old, site);
        }
        int ok = ptrmap_put(&p->live, moved + HEADER_SIZE, TRACK_HEADERED | (size_t)new_total,
                            site) == 0;
        pthread_mutex_unlock(&p->live_lock);
        if (!ok) /* the memory stays valid, only the debug check will miss it */
            untracked(p, "realloc");
    }
    return moved + HEADER_SIZE;
}

static int op_reserve(dynoffheap_pool *pub, int64_t bytes)
{
    if (STALE(pub))
        return -1;
    struct pool *p = pool_of(pub);
    if (bytes < 0) {
        set_error(p, "reserve: bytes %lld is negative (must be at least 0)", (long long)bytes);
        return -1;
    }
    if (atomic_load(&p->closed)) {
        set_error(p, "pool closed: reserve of %lld bytes refused", (long long)bytes);
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
    if (STALE(pub))
        return;
    struct pool *p = pool_of(pub);
    if (bytes <= 0) {
        if (bytes < 0)
            set_misuse(p, "release: bytes %lld is negative (must be at least 0)",
                       (long long)bytes);
        return;
    }
    int64_t held = atomic_load(&p->explicit_bytes);
    do {
        if (bytes > held) {
            set_misuse(p, "release: bytes %lld is more than the %lld bytes taken with "
                       "dynoffheap_reserve", (long long)bytes, (long long)held);
            return;
        }
    } while (!atomic_compare_exchange_weak(&p->explicit_bytes, &held, held - bytes));
    uncharge(p, bytes);
}

static int64_t op_used(dynoffheap_pool *pub)
{
    return STALE(pub) ? 0 : current_used(pool_of(pub));
}

static int64_t op_peak(dynoffheap_pool *pub)
{
    if (STALE(pub))
        return 0;
    struct pool *p = pool_of(pub);
    sample_peak(p); /* the peak is never below a used value someone could have read */
    return atomic_load(&p->peak);
}

static int64_t op_reserved(dynoffheap_pool *pub)
{
    return STALE(pub) ? 0 : atomic_load(&pool_of(pub)->reserved);
}

static size_t op_last_error(dynoffheap_pool *pub, char *buf, size_t len)
{
    return STALE(pub) ? stale_error(pub, buf, len) : copy_error(pool_of(pub), buf, len);
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
    if (STALE(pub))
        return;
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
    .alloc_sized = op_alloc_sized,
    .alloc_sized_aligned = op_alloc_sized_aligned,
    .free_sized = op_free_sized,
};

/* ------------------------------------------------------------------------------------ */
/* Bridge API (exported)                                                                */
/* ------------------------------------------------------------------------------------ */

/* Handle to pool: NULL for 0 and for a stale handle (see "Handles"). */
static struct pool *from_handle(int64_t handle)
{
    dynoffheap_pool *pub = (dynoffheap_pool *)(uintptr_t)handle;
    if (pub == NULL || STALE(pub))
        return NULL;
    return pool_of(pub);
}

/* A quarantined pool leaves the quarantine: its handle turns stale, its locks and live
 * map go, and the struct waits for its next generation (it is never freed, so a stale
 * handle always reads a function table and a `handle` word). */
static void pool_retire(struct pool *p)
{
    atomic_store(&p->handle, 0);
    pthread_mutex_destroy(&p->grow_lock);
    pthread_mutex_destroy(&p->acct_lock);
    pthread_mutex_destroy(&p->sweep_lock);
    pthread_cond_destroy(&p->release_done);
    pthread_cond_destroy(&p->spill_done);
    pthread_mutex_destroy(&p->err_lock);
    pthread_mutex_destroy(&p->live_lock);
    ptrmap_destroy(&p->live);
    free(p->freed);
    p->freed = NULL;
    free(p->leak_report);
    p->leak_report = NULL;
    pthread_mutex_lock(&g_quarantine_lock);
    p->next_reuse = g_reuse;
    g_reuse = p;
    pthread_mutex_unlock(&g_quarantine_lock);
}

static void quarantine_add(struct pool *p)
{
    pthread_mutex_lock(&g_quarantine_lock);
    struct pool *oldest = g_quarantine[g_quarantine_next];
    g_quarantine[g_quarantine_next] = p;
    g_quarantine_next = (g_quarantine_next + 1) % DYNOFFHEAP_QUARANTINE_SIZE;
    pthread_mutex_unlock(&g_quarantine_lock);
    if (oldest != NULL)
        pool_retire(oldest);
}

/* A struct for a new pool: a retired one in its next generation, else a new one (its
 * pub[] filled once). Returns NULL when memory is short. */
static struct pool *pool_struct(void)
{
    pthread_mutex_lock(&g_quarantine_lock);
    struct pool *p = g_reuse;
    if (p != NULL)
        g_reuse = p->next_reuse;
    pthread_mutex_unlock(&g_quarantine_lock);
    uint32_t gen = 0;
    if (p != NULL) {
        gen = (p->gen + 1) % GENERATIONS;
    } else {
        void *mem = NULL;
        if (posix_memalign(&mem, POOL_ALIGN, sizeof(struct pool)) != 0)
            return NULL;
        p = mem;
        for (unsigned i = 0; i < GENERATIONS; i++)
            p->pub[i].ops = &g_ops;
    }
    /* Everything but pub[], which stale handles may read at any time. */
    memset((char *)p + offsetof(struct pool, handle), 0,
           sizeof(struct pool) - offsetof(struct pool, handle));
    p->gen = gen;
    return p;
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

EXPORT void dynoffheap_bridge_set_debug(int32_t on)
{
    pthread_once(&g_once, init_once); /* so that the environment does not override it */
    atomic_store(&g_debug, on != 0);
}

EXPORT int32_t dynoffheap_bridge_debug(void)
{
    pthread_once(&g_once, init_once);
    return atomic_load(&g_debug);
}

/* A pool in debug mode when `debug`, else in the process's default mode. */
static int64_t pool_create(int64_t pool_id, int64_t block_size, int debug)
{
    if (block_size < DYNOFFHEAP_MIN_BLOCK_SIZE || block_size > DYNOFFHEAP_MAX_BLOCK_SIZE)
        return 0;
    pthread_once(&g_once, init_once);
    struct pool *p = pool_struct();
    if (p == NULL)
        return 0;

    p->id = pool_id;
    p->block = block_size;
    p->quantum = block_size / 16 / 16 * 16; /* >= 256 given the minimum block size */
    p->tag = tag_of(p, p->gen);
    p->live_mark = LIVE_MAGIC ^ p->tag;
    p->serial = atomic_fetch_add(&g_pool_serial, 1) + 1;
    p->asymmetric = g_asymmetric;
    p->debug = debug || atomic_load(&g_debug);
    if (p->debug) /* without it a double free names no first free, nothing else changes */
        p->freed = calloc(FREED_RING, sizeof *p->freed);
    snprintf(p->name, sizeof p->name, "%lld", (long long)pool_id);

    int failed = pthread_mutex_init(&p->grow_lock, NULL) != 0;
    failed |= pthread_mutex_init(&p->acct_lock, NULL) != 0;
    failed |= pthread_mutex_init(&p->sweep_lock, NULL) != 0;
    failed |= pthread_cond_init(&p->release_done, NULL) != 0;
    failed |= pthread_cond_init(&p->spill_done, NULL) != 0;
    failed |= pthread_mutex_init(&p->err_lock, NULL) != 0;
    failed |= pthread_mutex_init(&p->live_lock, NULL) != 0;
    if (failed) /* only under resource exhaustion; Linux mutex init cannot fail */
        return 0; /* the struct is lost, which is safe */
    dynoffheap_pool *pub = &p->pub[p->gen];
    atomic_store_explicit(&p->handle, (uintptr_t)pub | (p->debug ? HANDLE_DEBUG : 0),
                          memory_order_release);
    return (int64_t)(uintptr_t)pub;
}

EXPORT int64_t dynoffheap_bridge_pool_create(int64_t pool_id, int64_t block_size)
{
    return pool_create(pool_id, block_size, 0);
}

EXPORT int64_t dynoffheap_bridge_pool_create_debug(int64_t pool_id, int64_t block_size)
{
    return pool_create(pool_id, block_size, 1);
}

EXPORT void dynoffheap_bridge_pool_set_name(int64_t handle, const char *name)
{
    struct pool *p = from_handle(handle);
    if (p == NULL || name == NULL)
        return;
    pthread_mutex_lock(&p->err_lock);
    snprintf(p->name, sizeof p->name, "%s", name);
    pthread_mutex_unlock(&p->err_lock);
}

EXPORT int64_t dynoffheap_bridge_pool_misuses(int64_t handle, char *buf, int64_t len)
{
    struct pool *p = from_handle(handle);
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->err_lock);
    int64_t misuses = p->misuses;
    if (buf != NULL && len > 0)
        snprintf(buf, (size_t)len, "%s", p->first_misuse);
    pthread_mutex_unlock(&p->err_lock);
    return misuses;
}

EXPORT void dynoffheap_bridge_pool_set_error(int64_t handle, const char *text)
{
    struct pool *p = from_handle(handle);
    if (p != NULL)
        set_error_text(p, text != NULL ? text : "");
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
    return p != NULL ? current_used(p) : 0;
}

EXPORT int64_t dynoffheap_bridge_pool_peak(int64_t handle)
{
    struct pool *p = from_handle(handle);
    return p != NULL ? op_peak(&p->pub[p->gen]) : 0;
}

EXPORT int64_t dynoffheap_bridge_pool_reserved(int64_t handle)
{
    struct pool *p = from_handle(handle);
    return p != NULL ? atomic_load(&p->reserved) : 0;
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

/* ------------------------------------------------------------------------------------ */
/* Leak report (debug mode)                                                             */
/* ------------------------------------------------------------------------------------ */

#define REPORTED_SITES 10 /* sites a leak report names; the rest are summed up */

struct site_total {
    const void *site;
    int64_t count;
    int64_t bytes;
};

static int by_site(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct site_total *)a)->site;
    uintptr_t y = (uintptr_t)((const struct site_total *)b)->site;
    return (x > y) - (x < y);
}

static int by_bytes_desc(const void *a, const void *b)
{
    const struct site_total *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return (x->count < y->count) - (x->count > y->count);
}

/* Appends to a growing text; on a failed malloc the text stays as it was. */
struct text {
    char *buf;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void text_add(struct text *t, const char *fmt, ...)
{
    char line[2 * SITE_TEXT_MAX + 96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t add = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (t->len + add + 1 > t->cap) {
        size_t cap = t->cap == 0 ? 1024 : t->cap;
        while (t->len + add + 1 > cap)
            cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (grown == NULL)
            return;
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, line, add);
    t->len += add;
    t->buf[t->len] = '\0';
}

/*
 * The live allocations of a pool in debug mode grouped by the site that allocated them,
 * largest total first: one line per site (at most REPORTED_SITES, the rest summed up),
 * then the bytes taken with dynoffheap_reserve. NULL when nothing is live or memory is
 * short. The sites are read from the live map under its lock and turned into text after.
 */
static char *leak_report(struct pool *p)
{
    pthread_mutex_lock(&p->live_lock);
    size_t n = p->live.members;
    struct site_total *sites = n > 0 ? malloc(n * sizeof *sites) : NULL;
    size_t got = 0;
    if (sites != NULL) {
        const void *key;
        struct ptrmap_val v;
        for (size_t cur = ptrmap_next(&p->live, 0, &key, &v); cur != 0 && got < n;
             cur = ptrmap_next(&p->live, cur, &key, &v))
            sites[got++] = (struct site_total){v.site, 1, (int64_t)tracked_bytes(v.value)};
    }
    pthread_mutex_unlock(&p->live_lock);
    int64_t explicit_bytes = atomic_load(&p->explicit_bytes);
    if (got == 0 && explicit_bytes == 0) {
        free(sites);
        return NULL;
    }

    size_t groups = 0;
    int64_t count = 0, bytes = 0;
    if (got > 0) {
        qsort(sites, got, sizeof *sites, by_site);
        for (size_t i = 0; i < got; i++) {
            count++;
            bytes += sites[i].bytes;
            if (groups > 0 && sites[groups - 1].site == sites[i].site) {
                sites[groups - 1].count++;
                sites[groups - 1].bytes += sites[i].bytes;
            } else {
                sites[groups++] = sites[i];
            }
        }
        qsort(sites, groups, sizeof *sites, by_bytes_desc);
    }

    struct text t = {NULL, 0, 0};
    text_add(&t, "%lld live allocation(s) of %lld bytes, by the site that allocated them "
             "(debug mode), largest first:", (long long)count, (long long)bytes);
    int64_t rest_count = 0, rest_bytes = 0;
    for (size_t i = 0; i < groups; i++) {
        if (i >= REPORTED_SITES) {
            rest_count += sites[i].count;
            rest_bytes += sites[i].bytes;
            continue;
        }
        char site[SITE_TEXT_MAX];
        format_site(sites[i].site, site, sizeof site);
        text_add(&t, "\n    %lld bytes in %lld allocation(s) at %s", (long long)sites[i].bytes,
                 (long long)sites[i].count, site);
    }
    if (groups > REPORTED_SITES)
        text_add(&t, "\n    ... and %zu more site(s): %lld bytes in %lld allocation(s)",
                 groups - REPORTED_SITES, (long long)rest_bytes, (long long)rest_count);
    if (explicit_bytes > 0)
        text_add(&t, "\n    %lld bytes taken with dynoffheap_reserve (no site is recorded)",
                 (long long)explicit_bytes);
    free(sites);
    return t.buf;
}

EXPORT int64_t dynoffheap_bridge_pool_leak_report(int64_t handle, char *buf, int64_t len)
{
    struct pool *p = from_handle(handle);
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->err_lock);
    size_t n = p->leak_report != NULL ? strlen(p->leak_report) : 0;
    if (n > 0 && buf != NULL && len > 0)
        snprintf(buf, (size_t)len, "%s", p->leak_report);
    pthread_mutex_unlock(&p->err_lock);
    return (int64_t)n;
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
    sweep_slots(p, 1);
    while (p->releasing > 0) /* let the JVM see releases already decided */
        pthread_cond_wait(&p->release_done, &p->acct_lock);
    int64_t reserved = atomic_load(&p->reserved);
    /* From here on bytes that reach avail come off closed_used (see avail_put), and
     * frees that saw `closed` took theirs off already: hence the add, not a store. */
    int64_t leaked = reserved - atomic_exchange(&p->avail, CLOSED_AVAIL);
    atomic_fetch_add(&p->closed_used, leaked);
    atomic_store(&p->reserved, 0);
    pthread_mutex_unlock(&p->acct_lock);
    pthread_mutex_unlock(&p->grow_lock);

    if (p->debug && leaked > 0) {
        char *report = leak_report(p);
        pthread_mutex_lock(&p->err_lock);
        p->leak_report = report;
        pthread_mutex_unlock(&p->err_lock);
    }

    dynoffheap_release_cb release = atomic_load(&g_release_cb);
    if (reserved > 0 && release != NULL)
        release(p->id, reserved);
    quarantine_add(p);
    return leaked;
}

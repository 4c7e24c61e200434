/*
 * sample_sort.c - a sample native operator that keeps all its memory inside the executor's
 * budget: an external sort of int64 keys, written against the public header dynoffheap.h only.
 *
 * This is the worked example for authors of native libraries that run inside Spark executors
 * with the dynamic off-heap sizing plugin. Everything a real operator (a columnar engine's sort,
 * a hash table, a codec) needs to do to live inside the executor's memory budget is here:
 *
 *   1. Receive the pool.  The Java side creates a pool per operator instance
 *      (NativeMemory.currentTask().newPool("sample-sort")) and passes TaskPool.handle() as a
 *      64-bit integer. Turn it into a pool with dynoffheap_pool_from_handle() and check
 *      dynoffheap_abi_compatible() once. No link step: this library is not linked against
 *      libdynoffheap.so; every call goes through the function table behind the handle.
 *
 *   2. Allocate everything from the pool.  Records (1 MiB chunks), bookkeeping arrays, I/O
 *      buffers, even the sorter struct: dynoffheap_alloc()/dynoffheap_realloc(), freed with
 *      dynoffheap_free(). The pool reserves whole blocks from the JVM first; a request that does
 *      not fit (the executor's budget with dynamic sizing, Spark's off-heap pool without it)
 *      returns NULL, with the JVM's reason in dynoffheap_last_error(). Nothing here calls
 *      malloc().
 *
 *   3. Handle NULL.  With allow_spill, a NULL allocation makes the sorter spill itself (sort what
 *      is in memory, write it to a run file, free the chunks) and retry once. Without it, or if
 *      the retry fails too, the call returns -1. The Java wrapper runs every native call through
 *      TaskPool.call(), which turns that -1 into Spark's SparkOutOfMemoryError carrying the
 *      JVM's reason and the task's memory usage tree: the task fails cleanly, the executor lives.
 *
 *   4. Let the JVM ask for memory back.  dynoffheap_set_spill() registers spill_callback().
 *      Spark calls it when another consumer of the same task (a Spark sort or aggregation, or
 *      another native operator) needs memory, and the plugin calls it when the executor's budget
 *      is short. It may come from any JVM thread, at any time while the sorter lives, also
 *      while no sorter function is running. So:
 *        - it takes the sorter's mutex with pthread_mutex_trylock(): if the sorter is busy (an
 *          add, finish or next running on the task thread, which may itself be waiting for the
 *          JVM inside an allocation), it answers 0 at once instead of blocking; the busy call
 *          will spill by itself if its allocation is denied;
 *        - it allocates nothing: the scratch arrays the spill needs are grown together with the
 *          chunk array, and the write buffer exists from the start (allocating inside a spill
 *          would re-enter the JVM's memory manager from inside its own spill);
 *        - its context is the sorter itself: samplesort_destroy() first calls
 *          dynoffheap_set_spill(pool, NULL, NULL), which returns only when no call of the
 *          function is running any more, and then frees the sorter.
 *
 *   5. Start threads.  With worker_threads > 1, each batch's new chunks are allocated and filled
 *      by pthreads that the sorter starts (threads the JVM did not start). The pool may call the
 *      JVM from them; the Java binding attaches them as needed.
 *
 *   6. Give everything back.  samplesort_destroy() frees every allocation through the pool and
 *      deletes the run files. Memory still held when the Spark task ends is reported by the
 *      plugin as a leak (and force-released from the accounting, not from the process).
 *
 * Data: a record is record_bytes long: the 8-byte key, then a payload derived from the key
 * (mix64 of the previous word), so the working set is real memory that is written and read.
 * Payloads are checked when a record leaves memory (spill or output); mismatches are counted
 * (samplesort_payload_errors) and must stay 0. Run files hold only the keys.
 *
 * Merge: samplesort_finish() sorts each in-memory chunk (quicksort on whole records) and builds a
 * binary min-heap over cursors of the chunks and run files; samplesort_next() pops keys in order.
 * In the merge phase the sorter no longer spills (spill_callback() answers 0); a production
 * operator would write the unread rest of its in-memory chunks to a run there as well.
 *
 * Not in scope for a sample: one sorter per pool (the pool has one spill function), run files
 * stay open until destroy (one descriptor per spill).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "dynoffheap.h"
#include "sample_sort.h"

#define EXPORT __attribute__((visibility("default")))

#define IO_KEYS 8192    /* keys per spill write / run read buffer (64 KiB) */
#define WAVE_JOBS 64    /* new chunks filled per round of worker threads */
#define PATH_BYTES 4096 /* spill_dir plus file name */
#define NAME_BYTES 96   /* run file name */
#define ERROR_BYTES (DYNOFFHEAP_ERROR_MAX + 160)
#define SMALL_SORT 16   /* insertion sort below this many records */

enum sorter_state { ADDING, MERGING, DONE, FAILED };

/* Records stored in one pool allocation of SAMPLESORT_CHUNK_BYTES. */
struct chunk {
    unsigned char *data;
    int64_t count;
};

/* A sorted run of keys in a file; read through a buffer during the merge. */
struct run {
    int fd;
    int64_t count;
    char name[NAME_BYTES];
    int64_t *buf;
    int64_t buf_len;
    int64_t buf_pos;
    int64_t left_in_file;
};

/* A merge input: an in-memory chunk (rec..end) or a run (run != NULL); key is its current key. */
struct cursor {
    int64_t key;
    const unsigned char *rec;
    const unsigned char *end;
    struct run *run;
};

typedef struct sorter {
    dynoffheap_pool *pool;
    int64_t id; /* unique in the process, names the run files */
    int32_t record_bytes;
    int64_t per_chunk; /* records per chunk */
    int allow_spill;
    int threads;
    char spill_dir[PATH_BYTES];

    /* Everything below is guarded by lock (stats are atomics, read without it). */
    pthread_mutex_t lock;
    enum sorter_state state;

    struct chunk *chunks;
    int64_t nchunks;
    int64_t chunk_cap;
    /* Scratch for the merge inside a spill, chunk_cap entries each, grown with chunks. */
    struct cursor *spill_cursors;
    struct cursor **spill_heap;

    struct run *runs;
    int64_t nruns;
    int64_t run_cap;
    int64_t run_seq;
    int64_t *iobuf; /* IO_KEYS keys, for spill writes */

    /* The final merge. */
    struct cursor *cursors;
    struct cursor **heap;
    int64_t heap_len;

    int64_t total;
    int64_t in_memory;
    char error[ERROR_BYTES];

    _Atomic int64_t spills;
    _Atomic int64_t spilled_records;
    _Atomic int64_t spill_requests;
    _Atomic int64_t busy_spills;
    _Atomic int64_t payload_errors;
    _Atomic int64_t worker_chunks;

} sorter;

static _Atomic int64_t g_next_id = 1;

/* ---- records ------------------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline int64_t key_at(const unsigned char *rec)
{
    int64_t key;
    memcpy(&key, rec, sizeof key);
    return key;
}

static void write_record(unsigned char *rec, int64_t key, int32_t record_bytes)
{
    uint64_t word = (uint64_t)key;
    memcpy(rec, &key, sizeof key);
    for (int32_t off = 8; off < record_bytes; off += 8) {
        word = mix64(word);
        memcpy(rec + off, &word, sizeof word);
    }
}

static int record_ok(const unsigned char *rec, int32_t record_bytes)
{
    uint64_t word = (uint64_t)key_at(rec);
    for (int32_t off = 8; off < record_bytes; off += 8) {
        uint64_t stored;
        word = mix64(word);
        memcpy(&stored, rec + off, sizeof stored);
        if (stored != word)
            return 0;
    }
    return 1;
}

static inline void swap_records(unsigned char *a, unsigned char *b, int32_t record_bytes)
{
    for (int32_t off = 0; off < record_bytes; off += 8) {
        uint64_t x, y;
        memcpy(&x, a + off, 8);
        memcpy(&y, b + off, 8);
        memcpy(a + off, &y, 8);
        memcpy(b + off, &x, 8);
    }
}

#define REC(base, i, rb) ((base) + (size_t)(i) * (size_t)(rb))

static void insertion_sort(unsigned char *base, int64_t n, int32_t rb)
{
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = i; j > 0 && key_at(REC(base, j - 1, rb)) > key_at(REC(base, j, rb)); j--)
            swap_records(REC(base, j - 1, rb), REC(base, j, rb), rb);
}

static void sift_down_records(unsigned char *base, int64_t root, int64_t n, int32_t rb)
{
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && key_at(REC(base, child + 1, rb)) > key_at(REC(base, child, rb)))
            child++;
        if (key_at(REC(base, root, rb)) >= key_at(REC(base, child, rb)))
            return;
        swap_records(REC(base, root, rb), REC(base, child, rb), rb);
        root = child;
    }
}

static void heap_sort_records(unsigned char *base, int64_t n, int32_t rb)
{
    for (int64_t i = n / 2 - 1; i >= 0; i--)
        sift_down_records(base, i, n, rb);
    for (int64_t end = n - 1; end > 0; end--) {
        swap_records(base, REC(base, end, rb), rb);
        sift_down_records(base, 0, end, rb);
    }
}

/* Quicksort on whole records (median of three, Hoare partition), heapsort when too deep. In
 * place: sorting needs no memory beyond the chunk. */
static void sort_records(unsigned char *base, int64_t n, int32_t rb, int depth)
{
    while (n > SMALL_SORT) {
        if (depth-- == 0) {
            heap_sort_records(base, n, rb);
            return;
        }
        unsigned char *first = base, *mid = REC(base, n / 2, rb), *last = REC(base, n - 1, rb);
        if (key_at(mid) < key_at(first))
            swap_records(mid, first, rb);
        if (key_at(last) < key_at(first))
            swap_records(last, first, rb);
        if (key_at(last) < key_at(mid))
            swap_records(last, mid, rb);
        swap_records(first, mid, rb); /* the median is the pivot, at index 0 */
        int64_t pivot = key_at(first);
        int64_t i = -1, j = n;
        for (;;) {
            do
                i++;
            while (key_at(REC(base, i, rb)) < pivot);
            do
                j--;
            while (key_at(REC(base, j, rb)) > pivot);
            if (i >= j)
                break;
            swap_records(REC(base, i, rb), REC(base, j, rb), rb);
        }
        /* [0, j] <= pivot <= [j + 1, n), and 0 <= j < n - 1 */
        int64_t left = j + 1, right = n - left;
        if (left < right) {
            sort_records(base, left, rb, depth);
            base = REC(base, left, rb);
            n = right;
        } else {
            sort_records(REC(base, left, rb), right, rb, depth);
            n = left;
        }
    }
    insertion_sort(base, n, rb);
}

static void sort_chunk(const sorter *s, struct chunk *c)
{
    int depth = 0;
    for (int64_t n = c->count; n > 1; n >>= 1)
        depth += 2;
    sort_records(c->data, c->count, s->record_bytes, depth);
}

/* ---- merge heap ---------------------------------------------------------------------------- */

static void heap_sift_down(struct cursor **heap, int64_t len, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, smallest = i;
        if (l < len && heap[l]->key < heap[smallest]->key)
            smallest = l;
        if (l + 1 < len && heap[l + 1]->key < heap[smallest]->key)
            smallest = l + 1;
        if (smallest == i)
            return;
        struct cursor *tmp = heap[i];
        heap[i] = heap[smallest];
        heap[smallest] = tmp;
        i = smallest;
    }
}

static void heap_build(struct cursor **heap, int64_t len)
{
    for (int64_t i = len / 2 - 1; i >= 0; i--)
        heap_sift_down(heap, len, i);
}

static void cursor_on_chunk(struct cursor *c, const struct chunk *chunk, int32_t rb)
{
    c->rec = chunk->data;
    c->end = chunk->data + (size_t)chunk->count * (size_t)rb;
    c->run = NULL;
    c->key = key_at(c->rec);
}

static int read_all(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t got = read(fd, p, len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

/* Moves the cursor to its next key: 1, or 0 at its end, or -1 on a read error. */
static int cursor_advance(struct cursor *c, int32_t rb)
{
    struct run *r = c->run;
    if (r == NULL) {
        c->rec += rb;
        if (c->rec >= c->end)
            return 0;
        c->key = key_at(c->rec);
        return 1;
    }
    if (r->buf_pos == r->buf_len) {
        if (r->left_in_file == 0)
            return 0;
        int64_t want = r->left_in_file < IO_KEYS ? r->left_in_file : IO_KEYS;
        if (read_all(r->fd, r->buf, (size_t)want * sizeof(int64_t)) != 0)
            return -1;
        r->buf_len = want;
        r->buf_pos = 0;
        r->left_in_file -= want;
    }
    c->key = r->buf[r->buf_pos++];
    return 1;
}

/* ---- errors -------------------------------------------------------------------------------- */

static void set_error(sorter *s, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void set_error(sorter *s, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(s->error, sizeof s->error, format, args);
    va_end(args);
}

/* Records why an allocation failed, with the pool's (the JVM's) reason. */
static void set_denied(sorter *s, const char *what, size_t bytes)
{
    char reason[DYNOFFHEAP_ERROR_MAX];
    dynoffheap_last_error(s->pool, reason, sizeof reason);
    set_error(s, "%s: allocation of %zu bytes failed%s: %s", what, bytes,
              s->allow_spill ? " after spilling" : " (spilling not allowed)", reason);
}

/* ---- spill --------------------------------------------------------------------------------- */

static void run_path(const sorter *s, const struct run *r, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", s->spill_dir, r->name);
}

/*
 * Sorts the in-memory records, writes their keys as one sorted run, frees the chunks through
 * the pool, and returns the bytes the pool's usage dropped by. Holds s->lock; allocates
 * nothing. Returns 0 when there is nothing to spill, when spilling is impossible (merge phase,
 * no spill_dir, no free run slot) or on an I/O error (then nothing is freed).
 */
static int64_t spill_locked(sorter *s)
{
    if (s->state != ADDING || s->in_memory == 0 || s->spill_dir[0] == '\0' ||
        s->nruns >= s->run_cap)
        return 0;
    int32_t rb = s->record_bytes;
    int64_t used_before = dynoffheap_used(s->pool);

    struct run *r = &s->runs[s->nruns];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "samplesort-%ld-%lld-%lld.run", (long)getpid(),
             (long long)s->id, (long long)s->run_seq++);
    char path[PATH_BYTES + NAME_BYTES];
    run_path(s, r, path, sizeof path);
    r->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r->fd < 0) {
        set_error(s, "spill: cannot create %s: %s", path, strerror(errno));
        return 0;
    }

    int64_t len = 0;
    for (int64_t i = 0; i < s->nchunks; i++) {
        if (s->chunks[i].count == 0)
            continue;
        sort_chunk(s, &s->chunks[i]);
        cursor_on_chunk(&s->spill_cursors[len], &s->chunks[i], rb);
        s->spill_heap[len] = &s->spill_cursors[len];
        len++;
    }
    heap_build(s->spill_heap, len);
    int64_t written = 0, buffered = 0, bad = 0;
    while (len > 0) {
        struct cursor *c = s->spill_heap[0];
        if (!record_ok(c->rec, rb))
            bad++;
        s->iobuf[buffered++] = c->key;
        if (buffered == IO_KEYS) {
            if (write_all(r->fd, s->iobuf, sizeof(int64_t) * IO_KEYS) != 0)
                goto io_error;
            written += buffered;
            buffered = 0;
        }
        if (cursor_advance(c, rb) == 0)
            s->spill_heap[0] = s->spill_heap[--len];
        heap_sift_down(s->spill_heap, len, 0);
    }
    if (buffered > 0 && write_all(r->fd, s->iobuf, sizeof(int64_t) * (size_t)buffered) != 0)
        goto io_error;
    written += buffered;

    r->count = written;
    s->nruns++;
    for (int64_t i = 0; i < s->nchunks; i++)
        dynoffheap_free(s->pool, s->chunks[i].data);
    s->nchunks = 0;
    s->in_memory = 0;
    atomic_fetch_add(&s->payload_errors, bad);
    atomic_fetch_add(&s->spills, 1);
    atomic_fetch_add(&s->spilled_records, written);
    int64_t freed = used_before - dynoffheap_used(s->pool);
    return freed > 0 ? freed : 0;

io_error:
    set_error(s, "spill: writing %s failed: %s", path, strerror(errno));
    close(r->fd);
    unlink(path);
    r->fd = -1;
    return 0;
}

/* The function the JVM calls through the pool (registered with dynoffheap_set_spill). */
static int64_t spill_callback(void *ctx, int64_t bytes_wanted)
{
    (void)bytes_wanted; /* a spill writes everything in memory: the cheapest unit here */
    sorter *s = ctx;
    atomic_fetch_add(&s->spill_requests, 1);
    int64_t freed = 0;
    if (pthread_mutex_trylock(&s->lock) == 0) {
        freed = spill_locked(s);
        pthread_mutex_unlock(&s->lock);
    } else {
        atomic_fetch_add(&s->busy_spills, 1);
    }
    return freed;
}

/* ---- growing the bookkeeping --------------------------------------------------------------- */

/* dynoffheap_alloc; if denied, spill (when allowed) and try once more. Holds s->lock. */
static void *alloc_or_spill(sorter *s, size_t bytes, const char *what)
{
    void *p = dynoffheap_alloc(s->pool, bytes);
    if (p == NULL && s->allow_spill) {
        spill_locked(s);
        p = dynoffheap_alloc(s->pool, bytes);
    }
    if (p == NULL)
        set_denied(s, what, bytes);
    return p;
}

/* Room for `extra` more chunks, with the spill scratch arrays grown alongside. */
static int ensure_chunk_capacity(sorter *s, int64_t extra)
{
    for (int attempt = 0;; attempt++) {
        if (s->nchunks + extra <= s->chunk_cap)
            return 0;
        int64_t cap = s->chunk_cap * 2;
        if (cap < s->nchunks + extra)
            cap = s->nchunks + extra;
        if (cap < 64)
            cap = 64;
        struct chunk *chunks = dynoffheap_alloc(s->pool, (size_t)cap * sizeof *chunks);
        struct cursor *cursors =
            chunks != NULL ? dynoffheap_alloc(s->pool, (size_t)cap * sizeof *cursors) : NULL;
        struct cursor **heap =
            cursors != NULL ? dynoffheap_alloc(s->pool, (size_t)cap * sizeof *heap) : NULL;
        if (heap != NULL) {
            if (s->nchunks > 0)
                memcpy(chunks, s->chunks, (size_t)s->nchunks * sizeof *chunks);
            dynoffheap_free(s->pool, s->chunks);
            dynoffheap_free(s->pool, s->spill_cursors);
            dynoffheap_free(s->pool, s->spill_heap);
            s->chunks = chunks;
            s->spill_cursors = cursors;
            s->spill_heap = heap;
            s->chunk_cap = cap;
            return 0;
        }
        dynoffheap_free(s->pool, chunks);
        dynoffheap_free(s->pool, cursors);
        if (attempt > 0 || !s->allow_spill) {
            set_denied(s, "growing the chunk table", (size_t)cap * sizeof *chunks);
            return -1;
        }
        spill_locked(s); /* leaves no chunks, so the current table may be enough now */
    }
}

/* A free slot for the next run, so that a spill never has to allocate. */
static int ensure_run_slot(sorter *s)
{
    if (s->nruns < s->run_cap)
        return 0;
    int64_t cap = s->run_cap < 8 ? 8 : s->run_cap * 2;
    struct run *runs = dynoffheap_alloc(s->pool, (size_t)cap * sizeof *runs);
    if (runs == NULL) {
        set_denied(s, "growing the run table", (size_t)cap * sizeof *runs);
        return -1;
    }
    if (s->nruns > 0)
        memcpy(runs, s->runs, (size_t)s->nruns * sizeof *runs);
    dynoffheap_free(s->pool, s->runs);
    s->runs = runs;
    s->run_cap = cap;
    return 0;
}

/* ---- adding, with worker threads ----------------------------------------------------------- */

/* One new chunk to allocate and fill. */
struct job {
    const int64_t *keys;
    int64_t n;
    unsigned char *data; /* NULL: the allocation was denied */
};

struct wave {
    sorter *s;
    struct job *jobs;
    int64_t njobs;
    _Atomic int64_t next;
    int by_worker;
};

static void *wave_main(void *arg)
{
    struct wave *w = arg;
    sorter *s = w->s;
    size_t chunk_bytes = (size_t)(s->per_chunk * s->record_bytes);
    for (;;) {
        int64_t i = atomic_fetch_add(&w->next, 1);
        if (i >= w->njobs)
            return NULL;
        struct job *job = &w->jobs[i];
        job->data = dynoffheap_alloc(s->pool, chunk_bytes);
        if (job->data == NULL)
            continue;
        for (int64_t k = 0; k < job->n; k++)
            write_record(REC(job->data, k, s->record_bytes), job->keys[k], s->record_bytes);
        if (w->by_worker)
            atomic_fetch_add(&s->worker_chunks, 1);
    }
}

/* Allocates and fills the jobs' chunks: on up to s->threads new threads, else on this one. */
static void run_wave(sorter *s, struct job *jobs, int64_t njobs)
{
    struct wave w = {.s = s, .jobs = jobs, .njobs = njobs, .by_worker = 1};
    atomic_init(&w.next, 0);
    pthread_t tids[SAMPLESORT_MAX_THREADS];
    int64_t want = s->threads > 1 ? (njobs < s->threads ? njobs : s->threads) : 0;
    int64_t started = 0;
    while (started < want && pthread_create(&tids[started], NULL, wave_main, &w) == 0)
        started++;
    if (started == 0) {
        w.by_worker = 0;
        wave_main(&w);
    }
    for (int64_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}

/* Appends the filled chunks; moves the failed jobs to the front and returns their number. */
static int64_t keep_filled(sorter *s, struct job *jobs, int64_t njobs)
{
    int64_t failed = 0;
    for (int64_t i = 0; i < njobs; i++) {
        if (jobs[i].data != NULL) {
            s->chunks[s->nchunks].data = jobs[i].data;
            s->chunks[s->nchunks].count = jobs[i].n;
            s->nchunks++;
            s->in_memory += jobs[i].n;
            s->total += jobs[i].n;
        } else {
            jobs[failed++] = jobs[i];
        }
    }
    return failed;
}

static int64_t add_locked(sorter *s, const int64_t *keys, int64_t n)
{
    int32_t rb = s->record_bytes;
    if (ensure_run_slot(s) != 0)
        return -1;
    /* The free room of the last chunk first: no allocation. */
    if (s->nchunks > 0 && n > 0) {
        struct chunk *tail = &s->chunks[s->nchunks - 1];
        int64_t take = s->per_chunk - tail->count;
        if (take > n)
            take = n;
        for (int64_t k = 0; k < take; k++)
            write_record(REC(tail->data, tail->count + k, rb), keys[k], rb);
        tail->count += take;
        s->in_memory += take;
        s->total += take;
        keys += take;
        n -= take;
    }
    /* Then new chunks, up to WAVE_JOBS at a time. */
    while (n > 0) {
        struct job jobs[WAVE_JOBS];
        int64_t njobs = 0, off = 0;
        while (njobs < WAVE_JOBS && off < n) {
            int64_t take = n - off < s->per_chunk ? n - off : s->per_chunk;
            jobs[njobs++] = (struct job){.keys = keys + off, .n = take, .data = NULL};
            off += take;
        }
        if (ensure_chunk_capacity(s, njobs) != 0)
            return -1;
        run_wave(s, jobs, njobs);
        int64_t failed = keep_filled(s, jobs, njobs);
        if (failed > 0) {
            size_t chunk_bytes = (size_t)(s->per_chunk * rb);
            if (!s->allow_spill) {
                set_denied(s, "adding records", chunk_bytes);
                return -1;
            }
            spill_locked(s); /* everything in memory, this wave's chunks included */
            run_wave(s, jobs, failed);
            if (keep_filled(s, jobs, failed) > 0) {
                set_denied(s, "adding records", chunk_bytes);
                return -1;
            }
        }
        keys += off;
        n -= off;
    }
    return 0;
}

/* ---- the exported functions ---------------------------------------------------------------- */

static sorter *from_handle(int64_t handle)
{
    return (sorter *)(uintptr_t)handle;
}

EXPORT int64_t samplesort_create(int64_t pool_handle, int32_t record_bytes, int32_t allow_spill,
                                 const char *spill_dir, int32_t worker_threads)
{
    dynoffheap_pool *pool = dynoffheap_pool_from_handle(pool_handle);
    if (!dynoffheap_abi_compatible(pool))
        return 0;
    if (record_bytes < SAMPLESORT_MIN_RECORD_BYTES || record_bytes > SAMPLESORT_MAX_RECORD_BYTES ||
        record_bytes % 8 != 0 || worker_threads < 1 || worker_threads > SAMPLESORT_MAX_THREADS)
        return 0;
    size_t dir_len = spill_dir != NULL ? strlen(spill_dir) : 0;
    if (dir_len >= PATH_BYTES)
        return 0;

    sorter *s = dynoffheap_alloc(pool, sizeof *s);
    if (s == NULL)
        return 0;
    memset(s, 0, sizeof *s);
    s->pool = pool;
    s->record_bytes = record_bytes;
    s->per_chunk = SAMPLESORT_CHUNK_BYTES / record_bytes;
    s->allow_spill = allow_spill != 0;
    s->threads = worker_threads;
    if (dir_len > 0)
        memcpy(s->spill_dir, spill_dir, dir_len + 1);
    s->state = ADDING;
    atomic_init(&s->spills, 0);
    atomic_init(&s->spilled_records, 0);
    atomic_init(&s->spill_requests, 0);
    atomic_init(&s->busy_spills, 0);
    atomic_init(&s->payload_errors, 0);
    atomic_init(&s->worker_chunks, 0);
    s->iobuf = dynoffheap_alloc(pool, sizeof(int64_t) * IO_KEYS);
    if (s->iobuf == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        dynoffheap_free(pool, s->iobuf);
        dynoffheap_free(pool, s);
        return 0;
    }
    s->id = atomic_fetch_add(&g_next_id, 1);
    dynoffheap_set_spill(pool, spill_callback, s);
    return (int64_t)(uintptr_t)s;
}

EXPORT int64_t samplesort_add(int64_t handle, const int64_t *keys, int64_t n)
{
    sorter *s = from_handle(handle);
    if (s == NULL)
        return -1;
    pthread_mutex_lock(&s->lock);
    int64_t rc;
    if (n < 0 || (n > 0 && keys == NULL)) {
        set_error(s, "add: invalid arguments (n = %lld)", (long long)n);
        rc = -1;
    } else if (s->state != ADDING) {
        set_error(s, "add: the input has ended (samplesort_finish was called)");
        rc = -1;
    } else {
        rc = add_locked(s, keys, n);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

EXPORT int64_t samplesort_finish(int64_t handle)
{
    sorter *s = from_handle(handle);
    if (s == NULL)
        return -1;
    pthread_mutex_lock(&s->lock);
    int64_t rc = -1;
    if (s->state != ADDING) {
        set_error(s, "finish: called twice");
        goto out;
    }
    if (ensure_run_slot(s) != 0)
        goto out;
    /* A spill during the allocations below adds at most one run and empties memory. */
    int64_t sources = s->nchunks + s->nruns + 1;
    s->cursors = alloc_or_spill(s, (size_t)sources * sizeof *s->cursors, "finish");
    if (s->cursors == NULL)
        goto out;
    s->heap = alloc_or_spill(s, (size_t)sources * sizeof *s->heap, "finish");
    if (s->heap == NULL)
        goto out;
    for (int64_t i = 0; i < s->nruns; i++) { /* nruns may grow inside the loop */
        if (s->runs[i].buf == NULL) {
            s->runs[i].buf = alloc_or_spill(s, sizeof(int64_t) * IO_KEYS, "run buffer");
            if (s->runs[i].buf == NULL)
                goto out;
        }
    }

    int64_t len = 0;
    for (int64_t i = 0; i < s->nchunks; i++) {
        if (s->chunks[i].count == 0)
            continue;
        sort_chunk(s, &s->chunks[i]);
        cursor_on_chunk(&s->cursors[len], &s->chunks[i], s->record_bytes);
        s->heap[len] = &s->cursors[len];
        len++;
    }
    for (int64_t i = 0; i < s->nruns; i++) {
        struct run *r = &s->runs[i];
        if (lseek(r->fd, 0, SEEK_SET) != 0) {
            set_error(s, "finish: rewinding run %s: %s", r->name, strerror(errno));
            goto out;
        }
        r->left_in_file = r->count;
        r->buf_len = r->buf_pos = 0;
        struct cursor *c = &s->cursors[len];
        c->run = r;
        c->rec = c->end = NULL;
        int first = cursor_advance(c, s->record_bytes);
        if (first < 0) {
            set_error(s, "finish: reading run %s: %s", r->name, strerror(errno));
            goto out;
        }
        if (first > 0)
            s->heap[len++] = c;
    }
    heap_build(s->heap, len);
    s->heap_len = len;
    s->state = len > 0 ? MERGING : DONE;
    rc = s->total;
out:
    if (rc < 0)
        s->state = FAILED;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

EXPORT int64_t samplesort_next(int64_t handle, int64_t *out, int64_t max)
{
    sorter *s = from_handle(handle);
    if (s == NULL || out == NULL || max < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    int64_t n = 0;
    if (s->state == MERGING) {
        int32_t rb = s->record_bytes;
        int64_t bad = 0;
        while (n < max && s->heap_len > 0) {
            struct cursor *c = s->heap[0];
            if (c->run == NULL && !record_ok(c->rec, rb))
                bad++;
            out[n++] = c->key;
            int more = cursor_advance(c, rb);
            if (more < 0) {
                set_error(s, "next: reading run %s: %s", c->run->name, strerror(errno));
                s->state = FAILED;
                n = -1;
                break;
            }
            if (more == 0)
                s->heap[0] = s->heap[--s->heap_len];
            heap_sift_down(s->heap, s->heap_len, 0);
        }
        atomic_fetch_add(&s->payload_errors, bad);
        if (n >= 0 && s->heap_len == 0)
            s->state = DONE;
    } else if (s->state != DONE) {
        set_error(s, "next: samplesort_finish has not succeeded");
        n = -1;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

EXPORT int64_t samplesort_spills(int64_t handle)
{
    sorter *s = from_handle(handle);
    return s != NULL ? atomic_load(&s->spills) : 0;
}

EXPORT int64_t samplesort_spilled_records(int64_t handle)
{
    sorter *s = from_handle(handle);
    return s != NULL ? atomic_load(&s->spilled_records) : 0;
}

EXPORT int64_t samplesort_spill_requests(int64_t handle)
{
    sorter *s = from_handle(handle);
    return s != NULL ? atomic_load(&s->spill_requests) : 0;
}

EXPORT int64_t samplesort_busy_spills(int64_t handle)
{
    sorter *s = from_handle(handle);
    return s != NULL ? atomic_load(&s->busy_spills) : 0;
}

EXPORT int64_t samplesort_payload_errors(int64_t handle)
{
    sorter *s = from_handle(handle);
    return s != NULL ? atomic_load(&s->payload_errors) : 0;
}

EXPORT int64_t samplesort_worker_chunks(int64_t handle)
{
    sorter *s = from_handle(handle);
    return s != NULL ? atomic_load(&s->worker_chunks) : 0;
}

EXPORT int64_t samplesort_last_error(int64_t handle, char *buf, int64_t len)
{
    sorter *s = from_handle(handle);
    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->lock);
    size_t n = strlen(s->error);
    if (buf != NULL && len > 0) {
        size_t copy = n < (size_t)len - 1 ? n : (size_t)len - 1;
        memcpy(buf, s->error, copy);
        buf[copy] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
    return (int64_t)n;
}

EXPORT void samplesort_destroy(int64_t handle)
{
    sorter *s = from_handle(handle);
    if (s == NULL)
        return;
    /* Returns when no spill call uses the sorter any more (see the file comment). */
    dynoffheap_set_spill(s->pool, NULL, NULL);

    pthread_mutex_lock(&s->lock);
    dynoffheap_pool *pool = s->pool;
    for (int64_t i = 0; i < s->nchunks; i++)
        dynoffheap_free(pool, s->chunks[i].data);
    for (int64_t i = 0; i < s->nruns; i++) {
        struct run *r = &s->runs[i];
        char path[PATH_BYTES + NAME_BYTES];
        run_path(s, r, path, sizeof path);
        if (r->fd >= 0)
            close(r->fd);
        unlink(path);
        dynoffheap_free(pool, r->buf);
    }
    dynoffheap_free(pool, s->chunks);
    dynoffheap_free(pool, s->spill_cursors);
    dynoffheap_free(pool, s->spill_heap);
    dynoffheap_free(pool, s->runs);
    dynoffheap_free(pool, s->cursors);
    dynoffheap_free(pool, s->heap);
    dynoffheap_free(pool, s->iobuf);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    dynoffheap_free(pool, s);
}

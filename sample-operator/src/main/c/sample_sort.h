/*
 * sample_sort.h - libdynoffheap_samplesort.so, a sample native operator: an external sort of
 * int64 keys whose every byte of memory is accounted by the JVM through dynoffheap.h.
 *
 * It is the worked example for authors of native libraries (see sample_sort.c): the operator
 * receives a pool handle from Java, allocates all its memory from that pool, registers a spill
 * function with it, spills itself when the pool denies memory (if allowed), allocates from
 * threads it starts itself, and frees everything through the pool.
 *
 * Handles are pointers carried as int64_t (0 = none), so Java can pass them as `long`
 * through JNA direct mapping. Every function returning int64_t returns a negative value on
 * failure; samplesort_last_error() then says why, and for a denied allocation the pool's own
 * error text (dynoffheap_last_error) has the JVM's reason, which the Java side turns into
 * Spark's out-of-memory error.
 *
 * One sorter is used by one thread at a time (the Spark task thread), except for its spill
 * function, which the JVM may call from any thread at any time while the sorter lives.
 */
#ifndef SAMPLE_SORT_H
#define SAMPLE_SORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record sizes the sorter accepts: a multiple of 8 in [8, 4096]; the first 8 bytes are the key,
 * the rest is a payload derived from the key (so every record is real, touched memory that the
 * sorter can check when it reads it back). */
#define SAMPLESORT_MIN_RECORD_BYTES 8
#define SAMPLESORT_MAX_RECORD_BYTES 4096

/* Records are stored in chunks of this many bytes, each one pool allocation. */
#define SAMPLESORT_CHUNK_BYTES ((int64_t)1 << 20)

/* Largest number of threads samplesort_create() accepts. */
#define SAMPLESORT_MAX_THREADS 64

/*
 * Creates a sorter whose memory comes from the pool behind `pool_handle`.
 *   record_bytes    size of one record (see above)
 *   allow_spill     nonzero: when the pool denies an allocation, the sorter writes what it holds
 *                   in memory to a sorted run file under spill_dir, frees that memory and retries
 *                   the allocation once; zero: the denial fails the call
 *   spill_dir       an existing directory for run files (NULL or "" only if the sorter must never
 *                   spill: the JVM's spill requests are then answered with 0)
 *   worker_threads  1: everything on the calling thread; more: each batch's new chunks are
 *                   allocated and filled by that many threads started by the sorter
 * Returns the sorter handle, or 0 (invalid arguments, incompatible pool, no memory).
 */
int64_t samplesort_create(int64_t pool_handle, int32_t record_bytes, int32_t allow_spill,
                          const char *spill_dir, int32_t worker_threads);

/*
 * The baseline without the plugin (malloc_pool.c): the handle of a pool whose every allocation
 * is a plain malloc(), accounted by no JVM and never denied. Give it to samplesort_create() to
 * run the same sorter on plain malloc. One such pool per process; it lives as long as the library.
 */
int64_t samplesort_malloc_pool(void);

/* Adds n keys. Returns 0, or -1 (memory denied and not recoverable, I/O error, wrong state). After
 * -1 the sorter may hold part of the batch; destroy it. */
int64_t samplesort_add(int64_t sorter, const int64_t *keys, int64_t n);

/* Ends the input: sorts what is in memory and prepares a k-way merge of the in-memory chunks and
 * the run files. Returns the number of records, or -1. */
int64_t samplesort_finish(int64_t sorter);

/* Writes up to max keys in ascending order to out. Returns how many (0 at the end), or -1. */
int64_t samplesort_next(int64_t sorter, int64_t *out, int64_t max);

/* Statistics. */
int64_t samplesort_spills(int64_t sorter);          /* run files written */
int64_t samplesort_spilled_records(int64_t sorter); /* records written to run files */
int64_t samplesort_spill_requests(int64_t sorter);  /* calls of the spill function by the JVM */
int64_t samplesort_busy_spills(int64_t sorter);     /* of those, answered 0 because busy */
int64_t samplesort_payload_errors(int64_t sorter);  /* records whose payload did not match */
int64_t samplesort_worker_chunks(int64_t sorter);   /* chunks allocated by the sorter's threads */

/* Copies the sorter's last error text into buf (NUL-terminated, cut to len) and returns its
 * length (0: no error). */
int64_t samplesort_last_error(int64_t sorter, char *buf, int64_t len);

/* Frees all memory through the pool, deletes the run files and unregisters the spill function.
 * Waits for a spill of this sorter running on another thread. 0 does nothing. */
void samplesort_destroy(int64_t sorter);

#ifdef __cplusplus
}
#endif

#endif /* SAMPLE_SORT_H */

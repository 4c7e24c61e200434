/*
 * dynoffheap_bridge.h - the functions libdynoffheap.so exports for its Java owner.
 *
 * These are called from Java through JNA direct mapping (io.dynoffheap.nativebridge),
 * and from the C tests and benchmark that stand in for the JVM. Native libraries that
 * only allocate use dynoffheap.h instead and never need this header.
 *
 * Handles are pool pointers carried as int64_t. Every function taking a handle accepts 0
 * (and does nothing / returns 0); any other value must come from
 * dynoffheap_bridge_pool_create().
 *
 * Lifetime of closed pools (quarantine) and stale handles
 * -------------------------------------------------------
 * dynoffheap_bridge_pool_close() keeps the closed pool as it is in a process-wide
 * quarantine of the last DYNOFFHEAP_QUARANTINE_SIZE closed pools. While it is there every
 * call on it is defined: allocations and reservations fail with "pool closed", frees of
 * its memory still free that memory (without calling the JVM), and the getters report
 * the bytes still held by live allocations. When it leaves the quarantine its handle
 * turns *stale*: the library never frees the memory a handle points to, and a later pool
 * that reuses it gets another handle (one of DYNOFFHEAP_GENERATIONS per struct, used in
 * turn), so a call through a stale handle is recognised and does nothing: allocations
 * and reservations fail (dynoffheap_last_error() says the handle is stale), getters
 * return 0, and a free frees the memory only when its header carries the stale pool's
 * mark (a sized free: when the pointer and size pass the checks that need no pool).
 * A handle is recognised as stale until DYNOFFHEAP_QUARANTINE_SIZE *
 * DYNOFFHEAP_GENERATIONS (about a million) more pools have been closed in the process;
 * only a call through a handle older than that, or a call still running on a pool while
 * 4096 other pools close, can act on a newer pool. Bridge functions given a stale handle
 * behave as for handle 0.
 */
#ifndef DYNOFFHEAP_BRIDGE_H
#define DYNOFFHEAP_BRIDGE_H

#include <stdint.h>

#include "dynoffheap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of closed pools kept as they are so that late calls on them stay defined. */
#define DYNOFFHEAP_QUARANTINE_SIZE 4096

/* Handles one pool struct takes in turn, so that a stale one is recognised. */
#define DYNOFFHEAP_GENERATIONS 256

/* Smallest and largest block sizes dynoffheap_bridge_pool_create() accepts. */
#define DYNOFFHEAP_MIN_BLOCK_SIZE ((int64_t)4096)
#define DYNOFFHEAP_MAX_BLOCK_SIZE ((int64_t)1 << 40)

/*
 * Asks the JVM to account `bytes` more for pool `pool_id`. Returns 1 when granted and 0
 * when denied. 0 must mean "denied" because JNA returns 0 when the Java callback throws.
 * Called with the pool's growth mutex held, so at most one call per pool is in flight.
 */
typedef int32_t (*dynoffheap_reserve_cb)(int64_t pool_id, int64_t bytes);

/*
 * Tells the JVM that pool `pool_id` gives back `bytes` it reserved before. May be called
 * concurrently from several threads for one pool; never called with a lock of the pool
 * held.
 */
typedef void (*dynoffheap_release_cb)(int64_t pool_id, int64_t bytes);

/* ABI version of this library (DYNOFFHEAP_ABI_VERSION), for a check at load time. */
int32_t dynoffheap_bridge_abi_version(void);

/*
 * Sets the JVM callbacks for all pools of the process. Meant to be called once, before
 * the first pool is created; a later call replaces them for every pool. While no reserve
 * callback is set, every reservation is denied.
 */
void dynoffheap_bridge_set_callbacks(dynoffheap_reserve_cb reserve, dynoffheap_release_cb release);

/*
 * Creates a pool that reserves from the JVM in blocks of `block_size` bytes and reports
 * to the callbacks under `pool_id`. Returns the handle, or 0 when block_size is outside
 * [DYNOFFHEAP_MIN_BLOCK_SIZE, DYNOFFHEAP_MAX_BLOCK_SIZE] or memory is short.
 */
int64_t dynoffheap_bridge_pool_create(int64_t pool_id, int64_t block_size);

/* As dynoffheap_bridge_pool_create(), and the pool runs in debug mode whatever
 * dynoffheap_bridge_set_debug() and DYNOFFHEAP_DEBUG say (the Java side's per-task switch). */
int64_t dynoffheap_bridge_pool_create_debug(int64_t pool_id, int64_t block_size);

/*
 * Debug mode for pools created from now on (nonzero: on). A pool in debug mode keeps a
 * map of its live allocations, so that every misuse of a free is recognised before any
 * memory is read or freed (see "What misuse is caught" in dynoffheap.h), and records
 * where each allocation was made and where the last 256 frees were made:
 *   - the site is the return address of the library's entry point (the function-table
 *     call), i.e. a place in the native caller's code, since the wrappers of dynoffheap.h
 *     are inlined there; a realloc moves the block's site to the realloc's caller;
 *   - it is shown as "symbol+0xoffset (library)" through dladdr, which sees only exported
 *     symbols: a shared library's global functions, an executable's only when it was
 *     linked with -rdynamic. Otherwise it shows "library+0xoffset", the offset from the
 *     object's load address (`addr2line -f -e library 0xoffset` gives the function and,
 *     with debug info, the line); static functions always show that form;
 *   - a refused free names where the block was allocated, and a double free also where
 *     it was first freed while that free is among the pool's last 256;
 *   - closing a pool with live allocations makes a leak report that groups them by site
 *     (count and bytes, largest first, at most 10 sites; see
 *     dynoffheap_bridge_pool_leak_report).
 * It costs a mutex and a hash-map update per allocation and per free, and nothing on the
 * fast path of a pool that is not in debug mode. The default is off, or on in a build with
 * -DDYNOFFHEAP_DEBUG; the environment variable DYNOFFHEAP_DEBUG (1 or 0), read when the
 * library creates its first pool, overrides the default, and this call overrides both.
 */
void dynoffheap_bridge_set_debug(int32_t on);

/* Whether pools created now would run in debug mode (1) or not (0). */
int32_t dynoffheap_bridge_debug(void);

/*
 * Names the pool in its error texts (UTF-8, NUL-terminated, cut to 159 bytes): every
 * text the library writes ends with " (pool '<name>')". The default name is the pool id.
 * The Java side gives the task and the memory node, e.g.
 * "task-12 (stage 1.0, partition 3)/sorter".
 */
void dynoffheap_bridge_pool_set_name(int64_t handle, const char *name);

/*
 * Misuses of the pool seen so far: calls that cannot return their failure (a free of a
 * pointer that is not a live allocation of the pool, or of the other kind, or with the
 * wrong size; a release of more than was reserved). Each is refused and changes
 * nothing. Copies the text of the first one into buf (as dynoffheap_last_error does;
 * "" when there was none) and returns the count (0 for handle 0 or a stale handle).
 * The Java side fails the task with that text.
 */
int64_t dynoffheap_bridge_pool_misuses(int64_t handle, char *buf, int64_t len);

/*
 * Stores `text` (UTF-8, NUL-terminated, cut to DYNOFFHEAP_ERROR_MAX - 1 bytes) as the
 * pool's last error. The Java side calls this from inside a denied reserve callback so
 * that the native caller sees the JVM's reason; the pool then keeps that text instead of
 * writing its own.
 */
void dynoffheap_bridge_pool_set_error(int64_t handle, const char *text);

/*
 * Copies the last error text into buf (see dynoffheap_last_error) and returns the length
 * of the whole text. len <= 0 or buf NULL only returns the length.
 */
int64_t dynoffheap_bridge_pool_last_error(int64_t handle, char *buf, int64_t len);

/* Getters: see "Accounting model" in dynoffheap.h. */
int64_t dynoffheap_bridge_pool_used(int64_t handle);
int64_t dynoffheap_bridge_pool_peak(int64_t handle);
int64_t dynoffheap_bridge_pool_reserved(int64_t handle);

/*
 * Gives back to the JVM every whole block that live allocations do not need. Returns the
 * bytes released (0 on a closed pool).
 */
int64_t dynoffheap_bridge_pool_shrink(int64_t handle);

/*
 * Calls the spill function the native side registered (if any) with `bytes`, then
 * shrinks. Returns the bytes released to the JVM during the call, including releases
 * that the spill function's frees triggered on the way (0 on a closed pool or when
 * bytes <= 0, in which case nothing is called).
 */
int64_t dynoffheap_bridge_pool_spill(int64_t handle, int64_t bytes);

/*
 * Closes the pool: waits for a reservation in progress, releases every reserved byte to
 * the JVM, and returns the bytes still held by live allocations (and reserve() calls),
 * which the Java side reports as a leak. The pool then goes to the quarantine described
 * above. Closing a closed pool does nothing and returns 0.
 */
int64_t dynoffheap_bridge_pool_close(int64_t handle);

/*
 * The leak report a pool in debug mode made when it was closed with live allocations or
 * reserved bytes: a first line with the count and bytes, then one line per site, e.g.
 *
 *   2 live allocation(s) of 5120 bytes, by the site that allocated them (debug mode), largest first:
 *       4112 bytes in 1 allocation(s) at build_index+0x2c (libengine.so)
 *       1008 bytes in 1 allocation(s) at libengine.so+0x1f3a
 *
 * (lines after the first start with four spaces; at most 10 sites, the rest summed up in one
 * line, and a line for bytes taken with dynoffheap_reserve). Copies it into buf (cut to
 * fit, NUL-terminated when len > 0) and returns the length of the whole text: 0 when the
 * pool made none (not in debug mode, nothing leaked, not closed yet, or handle 0 / stale).
 */
int64_t dynoffheap_bridge_pool_leak_report(int64_t handle, char *buf, int64_t len);

#ifdef __cplusplus
}
#endif

#endif /* DYNOFFHEAP_BRIDGE_H */

/*
 * testkit.h - a minimal test runner and a fake JVM for the C tests of libdynoffheap.
 *
 * Tests are plain functions registered in a table; CHECK() records a failure (with
 * file and line) and lets the test go on, so one run shows every broken expectation.
 * The runner prints one line per test and closes with "N passed, M failed".
 *
 * The fake JVM implements the two bridge callbacks the way the Java side does: it keeps
 * a per-pool total of reserved bytes, an overall budget it will not exceed (admission is
 * one CAS, so concurrent reservations cannot overshoot), counts every call, and can be
 * told to deny with a reason text it stores through dynoffheap_bridge_pool_set_error().
 */
#ifndef DYNOFFHEAP_TESTKIT_H
#define DYNOFFHEAP_TESTKIT_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "dynoffheap_bridge.h"

/* ---- runner ---- */

extern int tk_current_failures;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            tk_current_failures++;                                                        \
            fprintf(stderr, "    CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                                 \
    } while (0)

/* CHECK for int64 equality that prints both values. */
#define CHECK_EQ(a, b)                                                                    \
    do {                                                                                  \
        long long tk_a = (long long)(a), tk_b = (long long)(b);                           \
        if (tk_a != tk_b) {                                                               \
            tk_current_failures++;                                                        \
            fprintf(stderr, "    CHECK_EQ failed at %s:%d: %s == %s (%lld vs %lld)\n",    \
                    __FILE__, __LINE__, #a, #b, tk_a, tk_b);                              \
        }                                                                                 \
    } while (0)

struct tk_test {
    const char *name;
    void (*fn)(void);
};

/* Runs the tests, prints the summary line, returns the process exit code. */
int tk_run(const struct tk_test *tests, size_t count);

/* ---- fake JVM ---- */

#define FJ_MAX_POOLS 64

struct fake_jvm {
    _Atomic int64_t budget;        /* most bytes all pools together may hold */
    _Atomic int64_t total;         /* bytes all pools hold now */
    _Atomic int64_t reserve_calls; /* every reserve callback, granted or not */
    _Atomic int64_t release_calls;
    _Atomic int64_t denials;
    _Atomic int64_t bad_calls;     /* non-positive sizes, over-releases */
    _Atomic int64_t pool_total[FJ_MAX_POOLS];
    _Atomic int64_t handles[FJ_MAX_POOLS]; /* pool id -> handle, for set_error */
    const char *_Atomic deny_reason;  /* when set, denials store this text in the pool */
};

extern struct fake_jvm fj;

/* Installs the fake JVM's callbacks and resets its counters (budget: unlimited). */
void fj_reset(void);

/* Creates a pool with the given id (< FJ_MAX_POOLS) and block size. */
int64_t fj_pool(int64_t id, int64_t block_size);

int64_t fj_total(int64_t id);

#endif /* DYNOFFHEAP_TESTKIT_H */

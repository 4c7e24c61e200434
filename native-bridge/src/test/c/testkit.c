/*
 * testkit.c - the runner and fake JVM declared in testkit.h.
 */
#include "testkit.h"

#include <string.h>

int tk_current_failures;

int tk_run(const struct tk_test *tests, size_t count)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        tk_current_failures = 0;
        tests[i].fn();
        if (tk_current_failures == 0) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s (%d checks)\n", tests[i].name, tk_current_failures);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

struct fake_jvm fj;

static int32_t fj_reserve(int64_t pool_id, int64_t bytes)
{
    atomic_fetch_add(&fj.reserve_calls, 1);
    if (bytes <= 0 || pool_id < 0 || pool_id >= FJ_MAX_POOLS) {
        atomic_fetch_add(&fj.bad_calls, 1);
        return 0;
    }
    int64_t total = atomic_load(&fj.total);
    do {
        if (total > atomic_load(&fj.budget) - bytes) {
            atomic_fetch_add(&fj.denials, 1);
            const char *reason = atomic_load(&fj.deny_reason);
            if (reason != NULL)
                dynoffheap_bridge_pool_set_error(atomic_load(&fj.handles[pool_id]), reason);
            return 0;
        }
    } while (!atomic_compare_exchange_weak(&fj.total, &total, total + bytes));
    atomic_fetch_add(&fj.pool_total[pool_id], bytes);
    return 1;
}

static void fj_release(int64_t pool_id, int64_t bytes)
{
    atomic_fetch_add(&fj.release_calls, 1);
    if (bytes <= 0 || pool_id < 0 || pool_id >= FJ_MAX_POOLS ||
        atomic_load(&fj.pool_total[pool_id]) < bytes) {
        atomic_fetch_add(&fj.bad_calls, 1);
        return;
    }
    atomic_fetch_sub(&fj.pool_total[pool_id], bytes);
    atomic_fetch_sub(&fj.total, bytes);
}

void fj_reset(void)
{
    atomic_store(&fj.budget, INT64_MAX);
    atomic_store(&fj.total, 0);
    atomic_store(&fj.reserve_calls, 0);
    atomic_store(&fj.release_calls, 0);
    atomic_store(&fj.denials, 0);
    atomic_store(&fj.bad_calls, 0);
    for (int i = 0; i < FJ_MAX_POOLS; i++) {
        atomic_store(&fj.pool_total[i], 0);
        atomic_store(&fj.handles[i], 0);
    }
    atomic_store(&fj.deny_reason, NULL);
    dynoffheap_bridge_set_callbacks(fj_reserve, fj_release);
}

int64_t fj_pool(int64_t id, int64_t block_size)
{
    int64_t handle = dynoffheap_bridge_pool_create(id, block_size);
    atomic_store(&fj.handles[id], handle);
    return handle;
}

int64_t fj_total(int64_t id)
{
    return atomic_load(&fj.pool_total[id]);
}

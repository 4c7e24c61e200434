/*
 * ptrset.c - see ptrset.h.
 *
 * The table doubles when members plus tombstones would pass 3/4 of it, and is rebuilt at
 * the same size when tombstones alone are the reason, so long alloc/free runs do not fill
 * it with deleted markers.
 */
#include "ptrset.h"

#include <stdlib.h>

#define SLOT_EMPTY ((uintptr_t)0)
#define SLOT_DELETED ((uintptr_t)1)

/* Mixes the pointer bits (allocations are 16-byte aligned, so the low bits are zero). */
static size_t slot_of(uintptr_t key, size_t capacity)
{
    uint64_t h = (uint64_t)key;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (capacity - 1);
}

/* Inserts key into a table known to have an empty slot; no duplicate check. */
static void place(uintptr_t *slots, size_t capacity, uintptr_t key)
{
    size_t i = slot_of(key, capacity);
    while (slots[i] != SLOT_EMPTY)
        i = (i + 1) & (capacity - 1);
    slots[i] = key;
}

/* Rebuilds the table with `capacity` slots, dropping tombstones. */
static int rebuild(struct ptrset *set, size_t capacity)
{
    uintptr_t *fresh = calloc(capacity, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    for (size_t i = 0; i < set->capacity; i++) {
        uintptr_t key = set->slots[i];
        if (key != SLOT_EMPTY && key != SLOT_DELETED)
            place(fresh, capacity, key);
    }
    free(set->slots);
    set->slots = fresh;
    set->capacity = capacity;
    set->tombstones = 0;
    return 0;
}

/* Index of key, or SIZE_MAX when it is not a member. */
static size_t find(const struct ptrset *set, uintptr_t key)
{
    if (set->capacity == 0)
        return SIZE_MAX;
    size_t i = slot_of(key, set->capacity);
    for (size_t probes = 0; probes < set->capacity; probes++) {
        uintptr_t slot = set->slots[i];
        if (slot == key)
            return i;
        if (slot == SLOT_EMPTY)
            return SIZE_MAX;
        i = (i + 1) & (set->capacity - 1);
    }
    return SIZE_MAX;
}

int ptrset_add(struct ptrset *set, const void *p)
{
    uintptr_t key = (uintptr_t)p;
    if ((set->members + set->tombstones + 1) * 4 > set->capacity * 3) {
        size_t capacity = set->capacity == 0 ? 64 : set->capacity;
        /* Grow when members alone are dense; otherwise clearing tombstones is enough. */
        if ((set->members + 1) * 2 > capacity)
            capacity *= 2;
        if (rebuild(set, capacity) != 0)
            return -1;
    }
    if (find(set, key) != SIZE_MAX)
        return 0;
    /* Reuse the first tombstone on the probe path, if any. */
    size_t i = slot_of(key, set->capacity);
    while (set->slots[i] != SLOT_EMPTY && set->slots[i] != SLOT_DELETED)
        i = (i + 1) & (set->capacity - 1);
    if (set->slots[i] == SLOT_DELETED)
        set->tombstones--;
    set->slots[i] = key;
    set->members++;
    return 0;
}

int ptrset_remove(struct ptrset *set, const void *p)
{
    size_t i = find(set, (uintptr_t)p);
    if (i == SIZE_MAX)
        return 0;
    set->slots[i] = SLOT_DELETED;
    set->members--;
    set->tombstones++;
    return 1;
}

int ptrset_contains(const struct ptrset *set, const void *p)
{
    return find(set, (uintptr_t)p) != SIZE_MAX;
}

void ptrset_destroy(struct ptrset *set)
{
    free(set->slots);
    set->slots = NULL;
    set->capacity = 0;
    set->members = 0;
    set->tombstones = 0;
}

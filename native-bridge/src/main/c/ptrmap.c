/*
 * ptrmap.c - see ptrmap.h.
 *
 * Keys and values live in two parallel arrays. The table doubles when members plus
 * tombstones would pass 3/4 of it, and is rebuilt at the same size when tombstones
 * alone are the reason, so long alloc/free runs do not fill it with deleted markers.
 */
#include "ptrmap.h"

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

/* Inserts key into tables known to have an empty slot; no duplicate check. */
static void place(uintptr_t *keys, struct ptrmap_val *values, size_t capacity, uintptr_t key,
                  struct ptrmap_val value)
{
    size_t i = slot_of(key, capacity);
    while (keys[i] != SLOT_EMPTY)
        i = (i + 1) & (capacity - 1);
    keys[i] = key;
    values[i] = value;
}

/* Rebuilds the table with `capacity` slots, dropping tombstones. */
static int rebuild(struct ptrmap *map, size_t capacity)
{
    uintptr_t *keys = calloc(capacity, sizeof *keys);
    struct ptrmap_val *values = calloc(capacity, sizeof *values);
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return -1;
    }
    for (size_t i = 0; i < map->capacity; i++) {
        uintptr_t key = map->keys[i];
        if (key != SLOT_EMPTY && key != SLOT_DELETED)
            place(keys, values, capacity, key, map->values[i]);
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->capacity = capacity;
    map->tombstones = 0;
    return 0;
}

/* Index of key, or SIZE_MAX when it is not a member. */
static size_t find(const struct ptrmap *map, uintptr_t key)
{
    if (map->capacity == 0)
        return SIZE_MAX;
    size_t i = slot_of(key, map->capacity);
    for (size_t probes = 0; probes < map->capacity; probes++) {
        uintptr_t slot = map->keys[i];
        if (slot == key)
            return i;
        if (slot == SLOT_EMPTY)
            return SIZE_MAX;
        i = (i + 1) & (map->capacity - 1);
    }
    return SIZE_MAX;
}

int ptrmap_put(struct ptrmap *map, const void *p, size_t size, const void *site)
{
    struct ptrmap_val value = {size, site};
    uintptr_t key = (uintptr_t)p;
    size_t at = find(map, key);
    if (at != SIZE_MAX) {
        map->values[at] = value;
        return 0;
    }
    if ((map->members + map->tombstones + 1) * 4 > map->capacity * 3) {
        size_t capacity = map->capacity == 0 ? 64 : map->capacity;
        /* Grow when members alone are dense; otherwise clearing tombstones is enough. */
        if ((map->members + 1) * 2 > capacity)
            capacity *= 2;
        if (rebuild(map, capacity) != 0)
            return -1;
    }
    /* Reuse the first tombstone on the probe path, if any. */
    size_t i = slot_of(key, map->capacity);
    while (map->keys[i] != SLOT_EMPTY && map->keys[i] != SLOT_DELETED)
        i = (i + 1) & (map->capacity - 1);
    if (map->keys[i] == SLOT_DELETED)
        map->tombstones--;
    map->keys[i] = key;
    map->values[i] = value;
    map->members++;
    return 0;
}

int ptrmap_get(const struct ptrmap *map, const void *p, struct ptrmap_val *out)
{
    size_t i = find(map, (uintptr_t)p);
    if (i == SIZE_MAX)
        return 0;
    *out = map->values[i];
    return 1;
}

size_t ptrmap_next(const struct ptrmap *map, size_t cursor, const void **key,
                   struct ptrmap_val *out)
{
    for (size_t i = cursor; i < map->capacity; i++) {
        uintptr_t k = map->keys[i];
        if (k != SLOT_EMPTY && k != SLOT_DELETED) {
            *key = (const void *)k;
            *out = map->values[i];
            return i + 1;
        }
    }
    return 0;
}

int ptrmap_remove(struct ptrmap *map, const void *p)
{
    size_t i = find(map, (uintptr_t)p);
    if (i == SIZE_MAX)
        return 0;
    map->keys[i] = SLOT_DELETED;
    map->members--;
    map->tombstones++;
    return 1;
}

void ptrmap_destroy(struct ptrmap *map)
{
    free(map->keys);
    free(map->values);
    map->keys = NULL;
    map->values = NULL;
    map->capacity = 0;
    map->members = 0;
    map->tombstones = 0;
}

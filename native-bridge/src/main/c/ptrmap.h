/*
 * ptrmap.h - a map from pointers to a size and a site (open addressing, linear probing),
 * internal.
 *
 * Used by debug mode to remember every live allocation of a pool with the size it was
 * charged under and the address it was allocated from, so that a double free, a foreign
 * pointer or a sized free with the wrong size is recognised before any memory is read or
 * freed, and a leak report can say where the memory still held was allocated.
 * Not thread-safe: the pool guards it with a mutex.
 */
#ifndef DYNOFFHEAP_PTRMAP_H
#define DYNOFFHEAP_PTRMAP_H

#include <stddef.h>
#include <stdint.h>

struct ptrmap_val {
    size_t value;
    const void *site; /* where the member was allocated (a return address), or NULL */
};

struct ptrmap {
    uintptr_t *keys;  /* 0 = empty, 1 = deleted (a tombstone), other = a member */
    struct ptrmap_val *values; /* the value of the member in the same slot */
    size_t capacity;  /* a power of two, or 0 before the first insert */
    size_t members;   /* live members */
    size_t tombstones;
};

/* An empty map needs no allocation: `struct ptrmap m = {0};` is ready to use. */

/* Maps p (not 0 or 1) to value and site, replacing earlier ones. Returns 0 on success,
 * -1 when memory for the table is short. */
int ptrmap_put(struct ptrmap *map, const void *p, size_t value, const void *site);

/* Looks p up. Returns 1 and stores its value and site in *out when p is a member, else 0. */
int ptrmap_get(const struct ptrmap *map, const void *p, struct ptrmap_val *out);

/* Iteration: starting with cursor 0, returns the cursor of the next member (stored in
 * *key and *out), or 0 after the last one. The map must not change in between. */
size_t ptrmap_next(const struct ptrmap *map, size_t cursor, const void **key,
                   struct ptrmap_val *out);

/* Removes p. Returns 1 when it was a member, 0 when it was not. */
int ptrmap_remove(struct ptrmap *map, const void *p);

/* Frees the table; the map is empty afterwards. */
void ptrmap_destroy(struct ptrmap *map);

#endif /* DYNOFFHEAP_PTRMAP_H */

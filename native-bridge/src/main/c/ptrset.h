/*
 * ptrset.h - a set of pointers (open addressing, linear probing), internal.
 *
 * Used by the debug build (-DDYNOFFHEAP_DEBUG) to remember every live allocation of a
 * pool, so that a double free or a foreign pointer is recognised before the header in
 * front of it is read. Not thread-safe: the pool guards it with a mutex.
 */
#ifndef DYNOFFHEAP_PTRSET_H
#define DYNOFFHEAP_PTRSET_H

#include <stddef.h>
#include <stdint.h>

struct ptrset {
    uintptr_t *slots; /* 0 = empty, 1 = deleted (a tombstone), other = a member */
    size_t capacity;  /* a power of two, or 0 before the first insert */
    size_t members;   /* live members */
    size_t tombstones;
};

/* An empty set needs no allocation: `struct ptrset s = {0};` is ready to use. */

/* Adds p (not 0 or 1). Returns 0 on success, -1 when memory for the table is short. */
int ptrset_add(struct ptrset *set, const void *p);

/* Removes p. Returns 1 when it was a member, 0 when it was not. */
int ptrset_remove(struct ptrset *set, const void *p);

/* Returns 1 when p is a member. */
int ptrset_contains(const struct ptrset *set, const void *p);

/* Frees the table; the set is empty afterwards. */
void ptrset_destroy(struct ptrset *set);

#endif /* DYNOFFHEAP_PTRSET_H */

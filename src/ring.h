/*
 * ring.h - a single-producer, single-consumer ring of fixed-size records in
 * shared memory: how a worker tells the master what changed.
 *
 * The producer (a worker, under its GIL) writes records and then publishes
 * `head` with release order; the consumer (the master) reads up to `head`
 * with acquire order and publishes `tail`. Neither ever waits: a full ring
 * refuses the push (the worker keeps the change and sends it later, see
 * sites.h), an empty ring returns nothing. Indices only grow (64 bits never
 * wrap in practice), so a respawned worker simply goes on from the head its
 * predecessor left, and records the dead worker completed are still read.
 */
#ifndef LW_RING_H
#define LW_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h" /* the records it carries; the ring knows only their size */

typedef struct lw_ring {
    _Atomic uint64_t head;  /* next record the producer writes; producer-owned */
    uint8_t pad0[56];
    _Atomic uint64_t tail;  /* next record the consumer reads; consumer-owned */
    uint8_t pad1[56];
    uint64_t mask;          /* capacity - 1, set by lw_ring_init */
    uint8_t pad2[56];
    lw_record_t records[];
} lw_ring_t;

_Static_assert(sizeof(lw_ring_t) == 192, "head, tail and mask on their own lines");

/* Bytes for a ring of `capacity` records (a power of two >= 2), 0 otherwise. */
size_t lw_ring_bytes(uint64_t capacity);

/* Sets up a ring in zeroed memory. 0, or -EINVAL (memory untouched). */
int lw_ring_init(lw_ring_t *ring, uint64_t capacity);

/* Producer: records that can be pushed now. */
uint64_t lw_ring_space(const lw_ring_t *ring);

/*
 * Producer: appends n records at once, or none. Returns 0, or -ENOSPC when
 * fewer than n slots are free (ring unchanged).
 */
int lw_ring_push(lw_ring_t *ring, const lw_record_t *recs, uint64_t n);

/* Consumer: copies up to max records into out and consumes them. Returns the count. */
uint64_t lw_ring_pop(lw_ring_t *ring, lw_record_t *out, uint64_t max);

#endif

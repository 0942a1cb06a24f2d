#include "ring.h"

#include <errno.h>

size_t lw_ring_bytes(uint64_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) || capacity > (UINT64_C(1) << 32))
        return 0;
    return sizeof(lw_ring_t) + (size_t)capacity * sizeof(lw_record_t);
}

int lw_ring_init(lw_ring_t *ring, uint64_t capacity)
{
    if (!ring || lw_ring_bytes(capacity) == 0)
        return -EINVAL;
    atomic_store_explicit(&ring->head, 0, memory_order_relaxed);
    atomic_store_explicit(&ring->tail, 0, memory_order_relaxed);
    ring->mask = capacity - 1;
    return 0;
}

uint64_t lw_ring_space(const lw_ring_t *ring)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);

    return ring->mask + 1 - (head - tail);
}

int lw_ring_push(lw_ring_t *ring, const lw_record_t *recs, uint64_t n)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);

    if (lw_ring_space(ring) < n)
        return -ENOSPC;
    for (uint64_t i = 0; i < n; i++)
        ring->records[(head + i) & ring->mask] = recs[i];
    /* the records are visible before the head that covers them */
    atomic_store_explicit(&ring->head, head + n, memory_order_release);
    return 0;
}

uint64_t lw_ring_pop(lw_ring_t *ring, lw_record_t *out, uint64_t max)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t n = head - tail;

    if (n > ring->mask + 1) /* a torn head (cannot happen with one producer) */
        n = 0;
    if (n > max)
        n = max;
    for (uint64_t i = 0; i < n; i++)
        out[i] = ring->records[(tail + i) & ring->mask];
    /* the slots are free for the producer only after they were copied */
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

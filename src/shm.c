#include "shm.h"

#include <errno.h>
#include <string.h>

#define READ_TRIES 64

static size_t ring_stride(uint32_t ring_capacity)
{
    size_t bytes = lw_ring_bytes(ring_capacity);

    return (bytes + 63) & ~(size_t)63;
}

size_t lw_shm_size(uint32_t nslots, uint32_t ncores, uint32_t ring_capacity)
{
    if (nslots == 0 || ncores == 0 || nslots > LW_SHM_MAX_WORKERS ||
        ncores > LW_SHM_MAX_CORES || lw_ring_bytes(ring_capacity) == 0)
        return 0;
    return sizeof(lw_shm_t) + (size_t)nslots * sizeof(lw_worker_slot_t) +
           (size_t)nslots * ncores * sizeof(lw_core_slot_t) +
           (size_t)nslots * ring_stride(ring_capacity);
}

int lw_shm_init(void *mem, size_t size, uint32_t nslots, uint32_t ncores,
                uint32_t ring_capacity)
{
    lw_shm_t *shm = mem;
    size_t want = lw_shm_size(nslots, ncores, ring_capacity);

    if (!mem || want == 0 || size != want)
        return -EINVAL;
    shm->magic = LW_SHM_MAGIC;
    shm->version = LW_SHM_VERSION;
    shm->nslots = nslots;
    shm->ncores = ncores;
    shm->size = size;
    shm->workers_off = sizeof(lw_shm_t);
    shm->cores_off = shm->workers_off + (uint64_t)nslots * sizeof(lw_worker_slot_t);
    shm->rings_off = shm->cores_off + (uint64_t)nslots * ncores * sizeof(lw_core_slot_t);
    shm->ring_capacity = ring_capacity;
    shm->ring_stride = ring_stride(ring_capacity);
    for (uint32_t w = 1; w <= nslots; w++) {
        lw_shm_worker(shm, w)->wid = w;
        lw_ring_init(lw_shm_ring(shm, w), ring_capacity);
    }
    return 0;
}

lw_ring_t *lw_shm_ring(lw_shm_t *shm, uint32_t wid)
{
    if (wid == 0 || wid > shm->nslots)
        return NULL;
    return (lw_ring_t *)((char *)shm + shm->rings_off + (size_t)(wid - 1) * shm->ring_stride);
}

lw_worker_slot_t *lw_shm_worker(lw_shm_t *shm, uint32_t wid)
{
    if (wid == 0 || wid > shm->nslots)
        return NULL;
    return (lw_worker_slot_t *)((char *)shm + shm->workers_off) + (wid - 1);
}

lw_core_slot_t *lw_shm_core(lw_shm_t *shm, uint32_t wid, uint32_t core)
{
    if (wid == 0 || wid > shm->nslots || core >= shm->ncores)
        return NULL;
    return (lw_core_slot_t *)((char *)shm + shm->cores_off) +
           ((size_t)(wid - 1) * shm->ncores + core);
}

int lw_shm_claim(lw_shm_t *shm, uint32_t wid, int32_t pid, uint64_t now_us)
{
    lw_worker_slot_t *slot = lw_shm_worker(shm, wid);
    uint32_t seq;

    if (!slot)
        return -EINVAL;
    /* Make the sequence odd, publish the new owner, make it even again. */
    seq = atomic_load_explicit(&slot->claims, memory_order_relaxed);
    if (seq & 1) /* the previous owner died mid-claim: finish its epoch */
        seq++;
    atomic_store_explicit(&slot->claims, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&slot->pid, pid, memory_order_relaxed);
    atomic_store_explicit(&slot->spawned_us, now_us, memory_order_relaxed);
    atomic_store_explicit(&slot->samples, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->lost, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->tracked, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->malloc_free, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&slot->spawns, 1, memory_order_relaxed);
    atomic_store_explicit(&slot->claims, seq + 2, memory_order_release);
    return 0;
}

int lw_shm_read(lw_shm_t *shm, uint32_t wid, lw_worker_view_t *view)
{
    lw_worker_slot_t *slot = lw_shm_worker(shm, wid);

    if (!slot)
        return -EINVAL;
    for (int tries = 0; tries < READ_TRIES; tries++) {
        lw_worker_view_t v = {0};
        uint32_t before = atomic_load_explicit(&slot->claims, memory_order_acquire);

        if (before & 1)
            continue;
        v.pid = atomic_load_explicit(&slot->pid, memory_order_relaxed);
        v.spawns = atomic_load_explicit(&slot->spawns, memory_order_relaxed);
        v.spawned_us = atomic_load_explicit(&slot->spawned_us, memory_order_relaxed);
        for (uint32_t c = 0; c < shm->ncores; c++)
            v.requests += atomic_load_explicit(&lw_shm_core(shm, wid, c)->requests,
                                               memory_order_acquire);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&slot->claims, memory_order_relaxed) != before)
            continue;
        *view = v;
        return 0;
    }
    return -EAGAIN;
}

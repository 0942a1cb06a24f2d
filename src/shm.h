/*
 * shm.h - the shared-memory region between the master and the processes it
 * forks: workers, mules and spoolers, each with a slot (procs.h numbers
 * them; below, "worker" stands for any of them).
 *
 * The master sizes and initialises the region once, before fork (uWSGI's
 * `init`); every child inherits the mapping. Layout, fixed for a run:
 *
 *   lw_shm_t header | nslots x lw_worker_slot_t | nslots x ncores x lw_core_slot_t
 *   | nslots x ring (lw_ring_t with ring_capacity records)
 *
 * Slot ids run 1..nslots (a worker's is its uWSGI id); cores are uWSGI's
 * async/thread cores (0..ncores-1; mules and spoolers count no requests). Each core slot has exactly one writer, the thread running
 * that core, so writers never contend; the master only reads.
 *
 * Ownership of a worker slot follows uWSGI's worker pid. A (re)spawned worker
 * claims its slot in post_fork by publishing its pid; counters are cumulative
 * over the slot's life and never reset, so nothing a dead worker counted is
 * lost, whenever the master looks. Readers use lw_shm_read(), which retries
 * if a claim races with the read (a seqlock on `claims`).
 *
 * Each worker has one ring (ring.h) for its site deltas. One, not one per
 * core: the engine that fills it runs under the worker's GIL, so there is
 * exactly one producer at a time whatever --threads says, and the GIL's
 * hand-over orders its writes.
 *
 * All shared fields are lock-free C11 atomics: address-free on the platforms
 * uWSGI runs on, which _Static_assert checks below.
 */
#ifndef LW_SHM_H
#define LW_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define LW_SHM_MAGIC   UINT32_C(0x4c57534d) /* "LWSM" */
#define LW_SHM_VERSION 3
#define LW_SHM_MAX_WORKERS 8192
#define LW_SHM_MAX_CORES   4096

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "int atomics must be lock-free");

/* Written by the master in lw_shm_init(), read-only afterwards. */
typedef struct lw_shm {
    uint32_t magic;
    uint32_t version;
    uint32_t nslots;
    uint32_t ncores;
    uint64_t size;      /* bytes of the whole region */
    uint64_t workers_off;
    uint64_t cores_off;
    uint64_t rings_off;
    uint32_t ring_capacity;  /* records per worker ring */
    uint32_t pad32;
    uint64_t ring_stride;    /* bytes between rings */
} lw_shm_t;

/* Written only by the worker that owns it (claim); read by the master. */
typedef struct lw_worker_slot {
    _Atomic int32_t pid;          /* owner, 0 while none */
    uint32_t wid;                 /* set by init, constant */
    _Atomic uint32_t claims;      /* seqlock: odd while a claim is under way */
    uint32_t pad0;
    _Atomic uint64_t spawned_us;  /* when the owner claimed it */
    _Atomic uint64_t spawns;      /* completed claims over the slot's life */
    _Atomic uint64_t samples;     /* this generation's recorded allocations */
    _Atomic uint64_t lost;        /* this generation's samples not recorded */
    _Atomic int64_t tracked;      /* this generation's estimated live bytes */
    /* Written by the master: walk what holds this worker-local site
     * (holders.h) once walk_seq moves; the owner answers between requests. */
    _Atomic uint32_t walk_site;
    _Atomic uint32_t walk_seq;
    /* bytes the owner's malloc holds free (mallinfo2; native.h), 0 if unknown */
    _Atomic int64_t malloc_free;
    /* Collections before an announcement (agg.h, Gates): the master moves
     * collect_ask; the owner collects garbage after its next request and,
     * once what that freed is in its ring, sets collect_done to it. */
    _Atomic uint32_t collect_ask;
    _Atomic uint32_t collect_done;
    uint8_t pad[48];
} lw_worker_slot_t;

/* Written only by the thread running the core; read by the master. */
typedef struct lw_core_slot {
    _Atomic uint64_t requests;    /* cumulative over the slot's life */
    uint8_t pad[56];
} lw_core_slot_t;

_Static_assert(sizeof(lw_shm_t) == 64, "header is one cache line");
_Static_assert(sizeof(lw_worker_slot_t) == 128, "worker slot is two cache lines");
_Static_assert(sizeof(lw_core_slot_t) == 64, "core slot is one cache line");

/* What the master reads of one worker slot, consistent as a whole. */
typedef struct lw_worker_view {
    int32_t pid;
    uint64_t spawns;
    uint64_t spawned_us;
    uint64_t requests;   /* sum over cores, cumulative */
} lw_worker_view_t;

/*
 * Bytes needed for the region; 0 if a count is 0 or above the maxima, or
 * ring_capacity is not a power of two >= 2.
 */
size_t lw_shm_size(uint32_t nslots, uint32_t ncores, uint32_t ring_capacity);

/*
 * Lays the region out in `mem` (`size` bytes, zeroed by the caller, e.g.
 * uwsgi_calloc_shared). Returns 0, or -EINVAL if size is not
 * lw_shm_size(nslots, ncores, ring_capacity), leaving mem untouched.
 */
int lw_shm_init(void *mem, size_t size, uint32_t nslots, uint32_t ncores,
                uint32_t ring_capacity);

/* The ring of worker `wid` (1-based), or NULL if out of range. */
lw_ring_t *lw_shm_ring(lw_shm_t *shm, uint32_t wid);

/* Worker `wid` (1-based) or NULL if out of range. */
lw_worker_slot_t *lw_shm_worker(lw_shm_t *shm, uint32_t wid);

/* Core `core` (0-based) of worker `wid`, or NULL if out of range. */
lw_core_slot_t *lw_shm_core(lw_shm_t *shm, uint32_t wid, uint32_t core);

/*
 * Called by a (re)spawned worker: takes the slot for `pid`. Returns 0, or
 * -EINVAL if wid is out of range (slot untouched).
 */
int lw_shm_claim(lw_shm_t *shm, uint32_t wid, int32_t pid, uint64_t now_us);

/* Counts one request on a core. Lock-free, single writer per core. */
static inline void lw_core_count_hooksafe(lw_core_slot_t *core)
{
    uint64_t n = atomic_load_explicit(&core->requests, memory_order_relaxed);
    atomic_store_explicit(&core->requests, n + 1, memory_order_release);
}

/*
 * Reads worker `wid` consistently. Returns 0, -EINVAL if wid is out of
 * range, -EAGAIN if claims kept racing the read (view unchanged then).
 */
int lw_shm_read(lw_shm_t *shm, uint32_t wid, lw_worker_view_t *view);

#endif

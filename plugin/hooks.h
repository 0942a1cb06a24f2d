/*
 * hooks.h - the worker's allocator hooks and what they record.
 *
 * Hooks are installed on the MEM and OBJ domains, which CPython only calls
 * with the GIL held: all that is here is guarded by the GIL. They sample
 * allocations by bytes (src/sampler.c), remember each sampled block
 * (src/ptrmap.c) and keep per-site live estimates (src/sites.c), which the
 * engine (engine.h) drains after each request. A thread-local guard keeps
 * leakwatch from sampling its own work.
 *
 * Hot paths, in the order every allocation and free meets them:
 *   malloc/calloc: subtract the size from the domain's sampler: almost
 *                  always done there, and a tail call to the chained
 *                  allocator.
 *   free:          a filter bit (usually clear), then the chained free.
 * Frame walk, site interning and the ptrmap insert happen for sampled
 * allocations only: about one per mean interval of allocated bytes.
 */
#ifndef LW_HOOKS_H
#define LW_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/config.h"
#include "../src/ptrmap.h"
#include "../src/sites.h"
#include "../src/wire.h" /* the pseudo-sites' lines */
#include "frames.h"

/* Sites per worker, the overflow site included; the master's aggregator is sized from it. */
#define LW_HOOKS_SITES 16384

typedef struct lw_hooks_stats {
    uint64_t samples;      /* allocations recorded */
    uint64_t lost;         /* samples that could not be recorded or fell into the overflow site */
    int64_t tracked;       /* estimated live bytes over all sites */
} lw_hooks_stats_t;

/*
 * In a freshly (re)spawned worker, with the GIL: maps the tables and
 * installs the hooks, chained to the allocators in place. Returns 0;
 * -ENOMEM when the tables cannot be mapped (nothing installed).
 */
int lw_hooks_start(const lw_config_t *cfg, uint64_t seed);

/* Both domains' calls still reach the hooks: an app's own allocator hooks
 * may skip them (see hooks.c). Costs two reads while ours are on top. */
bool lw_hooks_reached(void);

/* Sets or clears this thread's guard: leakwatch's own work is not sampled. */
void lw_hooks_guard(bool on);

/*
 * Called after each sampled allocation is recorded, guard set, GIL held
 * (NULL: nothing). The engine publishes from it between requests.
 */
void lw_hooks_after_sample(void (*fn)(void));

/* The site table, for the engine to drain (GIL held). */
lw_sites_t *lw_hooks_sites(void);

/* A site's traceback, as read when it was first seen; *n frames. */
const lw_frame_t *lw_hooks_traceback(uint32_t site, int *n);

void lw_hooks_stats(lw_hooks_stats_t *out);

/* The map of sampled blocks, for the free-list hooks' inline filter test. */
const lw_ptrmap_t *lw_hooks_ptrmap(void);

/* A sampled block (the filter said maybe) whose object died and may be
 * revived without the allocator: its bytes move to the shelf. Returns
 * whether it was sampled (it is on the shelf now). */
bool lw_hooks_shelve_hooksafe(const void *block);

/* A shelved block that CPython handed out again: its bytes move from the
 * shelf to the site of the line running now (none when it is no longer
 * sampled, or not shelved). */
void lw_hooks_revive_hooksafe(const void *block);

/*
 * Holding: until lw_hooks_release(), every allocation calls poll() (guard
 * set, GIL held, after the allocation) from the hooks' slow path, without
 * changing which allocations are sampled (sampler.h). Not held, the hot
 * path is the one above. The free-list hooks hold while they watch for a
 * shelved block's revival, a few hundred allocations at a time.
 */
void lw_hooks_hold(void (*poll)(void));
void lw_hooks_release(void);

/*
 * Counts live samples of `bytes` outside the shelf (one size; 0 stops
 * counting): the free-list hooks look at a free list of blocks of that size
 * only while one of them may be on it. on_sample (NULL: none) is told of
 * each new one, guard set, right after it is recorded.
 */
void lw_hooks_watch_size(uint64_t bytes, void (*on_sample)(const void *block));
int64_t lw_hooks_watched_live(void);

#endif

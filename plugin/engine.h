/*
 * engine.h - the worker side: starts the hooks (hooks.h, freelists.h) and,
 * after each request (and between requests, from the hooks, at most every
 * 100 ms), publishes what changed per site to the master.
 *
 * All engine state lives in the worker process and is guarded by the GIL:
 * the hooks are installed on the MEM and OBJ domains, which CPython only
 * calls with the GIL held, and the after-request step takes the GIL.
 */
#ifndef LW_ENGINE_H
#define LW_ENGINE_H

#include <stdint.h>

#include "../src/config.h"
#include "../src/ring.h"
#include "../src/shm.h"
#include "../src/sites.h"
#include "hooks.h"

/* A worker's own bounds; the master's aggregator is sized from them. */
#define LW_ENGINE_SITES LW_HOOKS_SITES /* sites per worker, overflow site included */
#define LW_ENGINE_ENDPOINTS 1024   /* endpoint names per worker; more fold into "other" */

/*
 * In a freshly (re)spawned worker, mule or spooler, with the GIL: allocates
 * the tables and installs the hooks, chained to the allocators in place.
 * `who` names the process in the log ("worker 2", "mule 1"); `between` is
 * the endpoint its allocations outside requests are published under
 * ("<no request>", "<mule>"); both are copied. Returns 0, or -1 after
 * logging why (the process then runs untracked).
 */
int lw_engine_start(const lw_config_t *cfg, uint64_t seed, const char *who, const char *between);

/*
 * Where this worker generation publishes: its ring, what to say in its
 * HELLO, and its slot, whose counters (samples, lost, tracked) it updates
 * at each publication. Call after lw_engine_start; ring may be NULL
 * (nothing published).
 */
void lw_engine_publish_to(lw_ring_t *ring, lw_worker_slot_t *slot, int64_t pid, uint64_t spawn,
                          uint64_t spawned_us);

/*
 * After each request, with the GIL taken by the caller: applies the gc policy
 * and publishes the sites that changed, attributed to the request's path
 * (folded). What the ring cannot take now stays dirty and goes next time.
 * Returns the number of site deltas published.
 */
size_t lw_engine_after_request(const char *path, size_t path_len);

/* In a child the app forked: the ring is the worker's, never this
 * process's; nothing more is published (an atfork handler: a store). */
void lw_engine_stop_publishing(void);

/* Logs this worker's largest sites (debug surface; GIL held). */
void lw_engine_log_sites(uint32_t wid, int top);

#endif

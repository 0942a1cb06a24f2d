/*
 * analyst.h - the master's analyst thread and the view it keeps: every
 * worker's deltas drained and judged (src/agg.c), the workers' RSS watched
 * against the memory limit, the alerts raised, the metrics set. The
 * listeners render from this view, under the same lock.
 */
#ifndef LW_ANALYST_H
#define LW_ANALYST_H

#include <stddef.h>
#include <stdint.h>

#include "../src/config.h"
#include "../src/memlimit.h"
#include "../src/shm.h"
#include "metrics.h"
#include "view.h"

/*
 * In the master (master_cycle), once: creates the view and starts the
 * thread. Returns 0 when it runs; -ENOMEM or -EAGAIN after logging why
 * (then there is no leak detection and nothing to serve).
 */
int lw_analyst_start(const lw_config_t *cfg, lw_shm_t *shm, const lw_procs_t *procs,
                     const lw_limit_t *limit, lw_metrics_t *metrics);

/* Renders from the current view (takes the view lock for it). Returns 0;
 * -ENOMEM when memory runs out (nothing to release then). */
int lw_analyst_render(lw_render_t what, lw_rendered_t *out);

/* Releases what lw_analyst_render gave. */
void lw_analyst_release(lw_rendered_t *doc);

#endif

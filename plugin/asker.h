/*
 * asker.h - the master's side of "what holds this leak" (holders.h is the
 * worker's): after a LEAK, the worker that holds most of the site is asked
 * through two fields of its shm slot, the questions waiting in
 * src/holdask.c; its answer comes back on its ring (a HELD record) and is
 * kept with the site and said as a HELD alert. In the analyst, view_lock
 * held, for every call.
 */
#ifndef LW_ASKER_H
#define LW_ASKER_H

#include <stdint.h>

#include "../src/agg.h"
#include "../src/config.h"
#include "../src/shm.h"
#include "../src/strbuf.h"

/* How an alert is raised (the analyst's lw_master_raise). */
typedef void (*lw_asker_raise_fn)(const char *kind, lw_strbuf_t *text);

/* Once, before the first question: the aggregator the answers go to. */
void lw_asker_init(const lw_config_t *cfg, lw_shm_t *shm, lw_agg_t *agg,
                   lw_asker_raise_fn raise_alert);

/* After a LEAK of `id`: asks the worker that holds most of it; or, when
 * none can be asked, says `held by: unknown (why)` at once. */
void lw_asker_ask(uint32_t id);

/* Each cycle: a worker with no question out gets its next one; questions
 * of a generation that ended go to whoever holds their site now. */
void lw_asker_post(void);

/* A worker's answer: lw_agg_cfg_t's `held` callback (inside lw_agg_feed). */
void lw_asker_answer(void *ctx, uint32_t wid, int64_t pid, uint32_t local, const char *text,
                     uint32_t len);

#endif

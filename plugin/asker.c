/*
 * asker.c - the master asks the workers what holds a leak (see asker.h).
 */
#include <uwsgi.h>

#include "../src/alertlog.h"
#include "../src/alerttext.h"
#include "../src/holdask.h"
#include "asker.h"

static const lw_alloc_t heap = {calloc, free};
static const lw_config_t *cfg;
static lw_shm_t *shm;
static lw_agg_t *agg;
static lw_asker_raise_fn say;
static lw_holdask_t asks; /* questions waiting or out */

void lw_asker_init(const lw_config_t *config, lw_shm_t *region, lw_agg_t *a,
                   lw_asker_raise_fn raise_alert)
{
    cfg = config;
    shm = region;
    agg = a;
    say = raise_alert;
    lw_holdask_init(&asks);
}

/* Says what holds site `id` when no worker can be asked: a HELD alert. */
static void unknown(uint32_t id, const char *why)
{
    char text[128];
    lw_strbuf_t t;
    int n = snprintf(text, sizeof(text), "held by: unknown (%s)", why);

    lw_strbuf_init(&t, &heap, 0);
    if (lw_agg_set_held(agg, id, text, (size_t)n) == 0) {
        lw_alerttext_held(&t, agg, id, 0, 0);
        say(LW_ALERT_HELD, &t);
    } else {
        heap.free(lw_strbuf_finish(&t, &(size_t){0}));
    }
}

/* After a LEAK of `id`: asks the worker that holds most of it what holds it
 * (holdask.h); it answers after its next request (lw_asker_answer). */
void lw_asker_ask(uint32_t id)
{
    uint32_t wid, local;
    int rc;

    if (!cfg->hold_budget_us)
        return; /* --leakwatch-hold-budget off */
    if (!lw_agg_walk_target(agg, id, &wid, &local)) {
        unknown(id, "no running process holds a sampled block of it");
        return;
    }
    rc = lw_holdask_want(&asks, id, wid, lw_agg_pid(agg, wid), local);
    if (rc == -ENOSPC)
        unknown(id, "too many walks already waiting for their workers");
}

/* Each cycle: a worker with no question out gets its next one (two fields
 * of its slot); questions of a generation that ended go to whoever holds
 * their site now. */
void lw_asker_post(void)
{
    uint32_t lost[LW_HOLDASK_MAX];

    for (uint32_t wid = 1; wid <= shm->nslots && asks.n; wid++) {
        uint32_t local;
        size_t nlost;
        int64_t pid = lw_agg_pid(agg, wid);
        if (!pid)
            continue;
        if (lw_holdask_next(&asks, wid, pid, &local, lost, LW_HOLDASK_MAX, &nlost)) {
            lw_worker_slot_t *slot = lw_shm_worker(shm, wid);
            atomic_store_explicit(&slot->walk_site, local, memory_order_relaxed);
            atomic_fetch_add_explicit(&slot->walk_seq, 1, memory_order_release);
        }
        for (size_t i = 0; i < nlost; i++)
            lw_asker_ask(lost[i]);
    }
}

/* A worker's answer (inside lw_agg_feed, view_lock held): kept with the
 * site it answers and said as a HELD alert. */
void lw_asker_answer(void *ctx, uint32_t wid, int64_t pid, uint32_t local, const char *text,
                     uint32_t len)
{
    uint32_t id = lw_holdask_answer(&asks, wid, pid, local);
    lw_strbuf_t t;

    (void)ctx;
    if (!id)
        return; /* late, or from a generation that was not asked */
    lw_strbuf_init(&t, &heap, 0);
    if (lw_agg_set_held(agg, id, text, len) == 0)
        lw_alerttext_held(&t, agg, id, wid, pid);
    else /* said all the same */
        lw_strbuf_put(&t, "[leakwatch] HELD site %u (out of memory to keep it): %.*s", id,
                      (int)len, text);
    say(LW_ALERT_HELD, &t);
}

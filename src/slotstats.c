#include "slotstats.h"

#include <errno.h>

/*
 * The growth rate is an exponential moving average of the per-second
 * change: each second the old rate keeps SMOOTH_KEEP of SMOOTH_PARTS parts
 * and the new second's change gets the rest, so a second's weight fades by
 * a fifth a second (about five seconds' memory). Integer arithmetic, the
 * quotient truncated toward zero.
 */
#define SMOOTH_KEEP 4
#define SMOOTH_PARTS 5
#define SECONDS_PER_MINUTE 60

struct slot {
    uint64_t spawns;         /* the generation last seen */
    int64_t tracked;         /* its tracked bytes at the last reading */
    int64_t rate;            /* bytes per minute, smoothed */
    uint64_t samples, lost;  /* the most this generation has shown */
};

struct lw_slotstats {
    lw_alloc_t alloc;
    uint32_t nworkers;
    /* Invariant: the totals are ended_* plus every slot's own, and every
     * term only grows, so the totals never go down. */
    uint64_t ended_samples, ended_lost;
    struct slot *slots;      /* [nworkers + 1]; [0] unused */
};

lw_slotstats_t *lw_slotstats_new(const lw_alloc_t *alloc, uint32_t nworkers)
{
    lw_slotstats_t *s;

    if (nworkers == 0 || !(s = alloc->calloc(1, sizeof(*s))))
        return NULL;
    s->alloc = *alloc;
    s->nworkers = nworkers;
    s->slots = alloc->calloc((size_t)nworkers + 1, sizeof(struct slot));
    if (!s->slots) {
        alloc->free(s);
        return NULL;
    }
    return s;
}

void lw_slotstats_free(lw_slotstats_t *s)
{
    if (!s)
        return;
    s->alloc.free(s->slots);
    s->alloc.free(s);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

int lw_slotstats_update(lw_slotstats_t *s, uint32_t wid, const lw_slot_reading_t *r)
{
    struct slot *sl;

    if (wid == 0 || wid > s->nworkers)
        return -EINVAL;
    sl = &s->slots[wid];
    if (r->spawns != sl->spawns) { /* a new generation starts its own rate and counts */
        sl->spawns = r->spawns;
        sl->tracked = r->tracked;
        sl->rate = 0;
        s->ended_samples += sl->samples;
        s->ended_lost += sl->lost;
        sl->samples = sl->lost = 0;
    }
    sl->rate = (SMOOTH_KEEP * sl->rate + (r->tracked - sl->tracked) * SECONDS_PER_MINUTE) /
               SMOOTH_PARTS;
    sl->tracked = r->tracked;
    sl->samples = max_u64(sl->samples, r->samples);
    sl->lost = max_u64(sl->lost, r->lost);
    return 0;
}

void lw_slotstats_slot(const lw_slotstats_t *s, uint32_t wid, lw_slot_view_t *out)
{
    *out = (lw_slot_view_t){0};
    if (wid == 0 || wid > s->nworkers)
        return;
    out->tracked = s->slots[wid].tracked;
    out->growth_rate = s->slots[wid].rate;
}

void lw_slotstats_totals(const lw_slotstats_t *s, lw_slot_totals_t *out)
{
    *out = (lw_slot_totals_t){0, s->ended_samples, s->ended_lost};
    for (uint32_t wid = 1; wid <= s->nworkers; wid++) {
        out->tracked += s->slots[wid].tracked;
        out->samples += s->slots[wid].samples;
        out->lost += s->slots[wid].lost;
    }
}

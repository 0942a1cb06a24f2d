/*
 * slotstats.h - what the metrics show of each worker slot, across the
 * generations of workers that hold it.
 *
 * A worker publishes counters of its own generation in its slot (tracked
 * bytes, samples, lost samples, src/shm.h); a respawned worker starts them
 * from 0. The metrics want more: leakwatch.samples and leakwatch.lost are
 * counters, which must never go down, so what ended generations counted
 * stays in them; and a worker's growth rate is its own generation's, so a
 * new generation starts its rate afresh instead of reading the drop to
 * its first tracked bytes as shrinking.
 *
 * The caller reads every slot once a second (the rate is per second, made
 * per minute) and gets back per slot its tracked bytes and growth rate,
 * and for all slots the totals. One thread calls everything: no lock.
 */
#ifndef LW_SLOTSTATS_H
#define LW_SLOTSTATS_H

#include <stdint.h>

#include "alloc.h"

/* One slot as its worker published it (lw_worker_slot_t's counters). */
typedef struct lw_slot_reading {
    uint64_t spawns;         /* completed claims over the slot's life: a change is a
                                new generation */
    int64_t tracked;         /* this generation's estimated live bytes */
    uint64_t samples;        /* this generation's recorded allocations */
    uint64_t lost;           /* this generation's samples not recorded */
} lw_slot_reading_t;

/* What the metrics show of one slot. */
typedef struct lw_slot_view {
    int64_t tracked;         /* bytes, at the last reading */
    int64_t growth_rate;     /* bytes per minute, smoothed over about five seconds */
} lw_slot_view_t;

/* What the metrics show of all slots. */
typedef struct lw_slot_totals {
    int64_t tracked;         /* bytes: every slot's last reading */
    uint64_t samples;        /* since start, ended generations included: never goes down */
    uint64_t lost;           /* likewise */
} lw_slot_totals_t;

typedef struct lw_slotstats lw_slotstats_t;

/* Statistics for slots 1..nworkers, all zero; NULL when memory runs out
 * or nworkers is 0 (nothing allocated then). Free with lw_slotstats_free. */
lw_slotstats_t *lw_slotstats_new(const lw_alloc_t *alloc, uint32_t nworkers);

void lw_slotstats_free(lw_slotstats_t *s);

/*
 * Takes slot `wid`'s reading of this second. Returns 0, or -EINVAL when wid
 * is out of range (nothing changed).
 */
int lw_slotstats_update(lw_slotstats_t *s, uint32_t wid, const lw_slot_reading_t *r);

/* Slot `wid`'s view into *out; all zeros when wid is out of range. */
void lw_slotstats_slot(const lw_slotstats_t *s, uint32_t wid, lw_slot_view_t *out);

/* Every slot's totals into *out. O(slots). Cannot fail. */
void lw_slotstats_totals(const lw_slotstats_t *s, lw_slot_totals_t *out);

#endif

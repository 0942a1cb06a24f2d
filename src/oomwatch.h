/*
 * oomwatch.h - when each worker will reach its memory limit, and when to
 * say so.
 *
 * Once a second the caller reads every worker's RSS (/proc) and passes it
 * here with the time: a round is lw_oomwatch_begin, a look per worker it
 * could read, then lw_oomwatch_end. Each worker slot keeps the last
 * LW_OOM_POINTS readings of its current generation (its pid); the trend is
 * their Theil-Sen slope (lw_trend_slope, robust to a single spike) once
 * LW_OOM_TREND_POINTS are there, and the ETA is lw_oom_eta's.
 *
 * The limit is per worker (--leakwatch-memory-limit, --reload-on-rss,
 * --evil-reload-on-rss) or shared (a cgroup's: all workers together, so
 * the sum of their RSS meets it at the sum of their rates, and one
 * cadence of warnings speaks for all).
 *
 * Cadence: a warning once the ETA is below the horizon, and another only
 * when the ETA has halved since the last one said (a leak speeding up, or
 * the end near), never once a second. A new generation of a worker starts
 * its own series and cadence; which generation was warned about stays
 * readable for its LAST WORDS (lw_oomwatch_warned).
 *
 * One thread (the analyst) calls everything: no lock inside.
 */
#ifndef LW_OOMWATCH_H
#define LW_OOMWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"

#define LW_OOM_POINTS 30       /* readings kept per worker: seconds at one a second */
#define LW_OOM_TREND_POINTS 5  /* fewer give no trend: rate 0 */

typedef struct lw_oomwatch_cfg {
    uint64_t limit;            /* bytes; 0: none known (readings and trends only) */
    bool shared;               /* the limit is all workers' together (a cgroup's) */
    uint64_t horizon;          /* seconds: warn when the limit is nearer than this */
} lw_oomwatch_cfg_t;

/* What a look (one worker) or a round's end (all workers, shared limit) says. */
typedef struct lw_oom {
    uint64_t rss;              /* bytes: the worker's reading, or all workers' sum */
    double rate;               /* bytes per second, the trend; 0 with too few points */
    uint64_t eta;              /* seconds to the limit; 0: no limit, no growth, or (a
                                  worker's look under a shared limit) not judged alone */
    bool warn;                 /* say the OOM line now */
} lw_oom_t;

typedef struct lw_oomwatch lw_oomwatch_t;

/* A watch over worker slots 1..nworkers; NULL when memory runs out or
 * nworkers is 0 (nothing allocated then). Free with lw_oomwatch_free. */
lw_oomwatch_t *lw_oomwatch_new(const lw_alloc_t *alloc, uint32_t nworkers,
                               const lw_oomwatch_cfg_t *cfg);

void lw_oomwatch_free(lw_oomwatch_t *ow);

/* Starts a round at `now_s` (seconds, any clock that does not go back):
 * every worker's ETA is 0 until it is looked at. Cannot fail. */
void lw_oomwatch_begin(lw_oomwatch_t *ow, double now_s);

/*
 * Worker `wid`'s reading this round: its pid (a pid other than the last
 * one's starts a new series, cadence and trend) and its RSS in bytes.
 * Returns its trend and, with a per-worker limit, its ETA and whether to
 * warn now. A wid out of range returns all zeros and changes nothing.
 */
lw_oom_t lw_oomwatch_look(lw_oomwatch_t *ow, uint32_t wid, int64_t pid, uint64_t rss);

/*
 * Ends the round. With a shared limit: the sum of this round's readings
 * and trends, its ETA (every worker's ETA from now on) and whether to warn
 * now; otherwise all zeros. Cannot fail.
 */
lw_oom_t lw_oomwatch_end(lw_oomwatch_t *ow);

/* The ETA the metrics show for worker `wid` after the last round, in
 * seconds; 0 when none (or wid out of range). */
uint64_t lw_oomwatch_eta(const lw_oomwatch_t *ow, uint32_t wid);

/*
 * The last reading of worker `wid` while it is generation `pid`: returns 0,
 * *rss (bytes) and *rate (bytes per second, its trend then); -ENOENT when
 * the slot's series is another generation's or has no reading, -EINVAL for
 * a wid out of range (*rss and *rate untouched on failure).
 */
int lw_oomwatch_last(const lw_oomwatch_t *ow, uint32_t wid, int64_t pid, uint64_t *rss,
                     double *rate);

/* True when the last per-worker OOM warning of slot `wid` was about
 * generation `pid` (it stays so after that generation ended). */
bool lw_oomwatch_warned(const lw_oomwatch_t *ow, uint32_t wid, int64_t pid);

#endif

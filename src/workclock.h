/*
 * workclock.h - the axis sites are judged on: work done.
 *
 * The detector (detect.h) judges a series against an axis that must move
 * when the app works, so that growth per unit of it tells a leak (steady)
 * from a fill (fading). Requests were that axis. But a thread of a worker
 * keeps memory between requests: at one request a second its series had a
 * point a second and a warm-up of 40 s, and a worker that serves nothing
 * had no axis at all (issue 17). So the axis is requests plus tenths of a
 * second of activity ("ticks"): time counts only while the workers' records
 * arrive (something was allocated or freed), each gap between two such
 * moments counted up to LW_WORKCLOCK_GAP_US. A night without traffic or
 * change adds a second, not eight hours of flat series that a morning leak
 * would have to outgrow (the detector asks for growth in each quarter of
 * the span since its base). Under traffic the ticks add ten a second to
 * hundreds or thousands of requests: the axis is the requests'.
 *
 * The clock also remembers, thinned to LW_WORKCLOCK_POINTS, what each point
 * of the axis was in requests and seconds, so a verdict's span (in axis
 * units) is said as requests and seconds. Pure: the caller gives the time.
 */
#ifndef LW_WORKCLOCK_H
#define LW_WORKCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define LW_WORKCLOCK_TICK_US 100000   /* a tick: a tenth of a second of activity */
#define LW_WORKCLOCK_GAP_US 1000000   /* the most one gap between activities counts */
#define LW_WORKCLOCK_POINTS 64

typedef struct lw_workclock_point {
    uint64_t x;            /* the axis: requests + ticks */
    uint64_t requests;
    uint64_t active_us;    /* activity counted so far */
} lw_workclock_point_t;

/* Zero it to start. Its fields are workclock.c's. */
typedef struct lw_workclock {
    uint64_t active_us;
    uint64_t last_us;      /* the last look that saw activity, */
    bool seen;             /* if there was one */
    lw_workclock_point_t pts[LW_WORKCLOCK_POINTS]; /* oldest first, evenly thinned */
    uint32_t npts;
    uint64_t spacing;      /* axis units between kept points, doubling when full */
} lw_workclock_t;

/*
 * A look at now_us (any clock that moves forward; one that goes back
 * counts nothing) with the requests served so far (cumulative: never
 * less than at the last look) and whether records arrived since the last
 * look. Returns the axis: requests + ticks, never less than before.
 */
uint64_t lw_workclock_look(lw_workclock_t *c, uint64_t now_us, uint64_t requests, bool active);

/*
 * What the span from axis value x to the last look was: the requests
 * served in it and its seconds of activity, interpolated between the kept
 * points around x (exact where requests and activity grew evenly between
 * them); from the first kept point if x is older.
 */
void lw_workclock_span(const lw_workclock_t *c, uint64_t x, uint64_t *requests, double *seconds);

/* The requests served at the last look (0 before any): what the figures
 * judged since are as of. */
uint64_t lw_workclock_requests(const lw_workclock_t *c);

/*
 * Whether the workers' warm-up is over, `requests` served by `live`
 * workers: `warmup` requests each (lazy initialisation in the first ones is
 * not growth), or as many seconds of activity, so a quiet worker's (one
 * request a second or none, a thread that allocates) is not judged only
 * after minutes.
 */
bool lw_workclock_warm(const lw_workclock_t *c, uint64_t requests, uint32_t live,
                       uint64_t warmup);

#endif

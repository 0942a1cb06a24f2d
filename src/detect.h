/*
 * detect.h - is a site leaking? A pure function of its series.
 *
 * The aggregator feeds each site's total live estimate (all workers) with
 * the fleet's cumulative request count; the detector returns a verdict. See
 * detect.c for the method.
 */
#ifndef LW_DETECT_H
#define LW_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#define LW_DETECT_POINTS 64
/* Positive judgements in a row before an alert, the master's setting for
 * sites and native growth alike: two looks, the second T/4 further grown,
 * which is what a third look used to add. */
#define LW_DETECT_CONFIRM 2

typedef struct lw_detect_cfg {
    int64_t threshold;   /* bytes of sustained growth that make a leak */
    uint32_t confirm;    /* consecutive positive judgements before alerting (>= 1) */
    int64_t interval;    /* the sampler's mean interval R (1 in exact mode) */
} lw_detect_cfg_t;

typedef struct lw_point {
    uint64_t requests;  /* the axis (points.h): work for sites, requests for native growth */
    int64_t bytes;
    uint64_t served;    /* requests served: the second axis (the axis when none is given) */
} lw_point_t;

/* Per-site detector state. Zero it (or lw_detect_reset) to start. */
typedef struct lw_detect_site {
    bool started;
    bool pinned;               /* base is an old peak: lower points do not move it */
    bool garbage;              /* collections shrank it (lw_detect_collected) */
    lw_point_t base;           /* where growth is measured from */
    int64_t high;              /* highest bytes since base */
    int64_t drops;             /* bytes of every fall between looks since base */
    int64_t last;              /* bytes at the last look */
    lw_point_t pts[LW_DETECT_POINTS]; /* history since base, evenly thinned */
    uint32_t npts;
    uint64_t spacing;          /* requests between kept points, doubles when full */
    uint32_t streak;           /* positive judgements in a row, each T/4 further grown */
    int64_t streak_growth;     /* growth at the streak's last step */
    uint64_t streak_span;      /* requests since base at the streak's last step */
    int64_t alerted_growth;    /* growth at the last alert, 0 = never alerted */
    int64_t withdrawn_growth;  /* growth the next LEAK needs after a withdrawn one
                                  (lw_detect_withdraw), 0 none */
} lw_detect_site_t;

enum lw_verdict_kind {
    LW_VERDICT_NONE = 0,  /* nothing to say */
    LW_VERDICT_SUSPECT,   /* looks like a leak, not confirmed yet */
    LW_VERDICT_LEAK,      /* alert now (first time, or grown substantially again) */
    LW_VERDICT_LEAKING,   /* still a leak, already alerted at this size */
};

typedef struct lw_verdict {
    enum lw_verdict_kind kind;
    int64_t growth;       /* bytes since base */
    uint64_t requests;    /* requests since base */
    double per_request;   /* growth / requests */
} lw_verdict_t;

void lw_detect_reset(lw_detect_site_t *s);

/*
 * Shifts every stored value by `bytes` (negative when a worker's share of
 * the site disappears with the worker), so its departure is not read as a
 * drop or a new low.
 */
void lw_detect_shift(lw_detect_site_t *s, int64_t bytes);

/*
 * Says that part of the site was just released (one worker's share fell by
 * half): from now on growth is measured from the highest point seen, as
 * after a drop of the whole series. A sum of per-worker sawtooths is
 * bounded even when its parts never reset at once. Each release moves the
 * base to the peak then (keeping the first, 2026-11-27, let a sum of two
 * workers' sawtooths and garbage climb by its phases: a false alarm in
 * the plateau test).
 */
void lw_detect_pin(lw_detect_site_t *s);

/* Like lw_detect_pin, with growth measured from `high` if that is higher
 * (a detector recreated for a site that released before). */
void lw_detect_pin_at(lw_detect_site_t *s, int64_t high);

/* Says the site was announced at `growth` (by a sum it dominates): it
 * speaks again only once grown to twice that. */
void lw_detect_alerted(lw_detect_site_t *s, int64_t growth);

/* Says `bytes` of the site were cyclic garbage, freed since the last
 * update by a collection (any: wire.h, LW_DELTA_COLLECTED): its high is lowered by them, so their fall is not
 * read as a drop (rule 1: a drop of T/2 makes the old high the base). */
void lw_detect_collected(lw_detect_site_t *s, int64_t bytes);

/* Withdraws the LEAK just given (what it counted was garbage, agg.h,
 * Gates): the alerted growth goes back to `alerted`, and the next LEAK
 * needs T/4 more growth than now, the step of a confirmation. */
void lw_detect_withdraw(lw_detect_site_t *s, const lw_detect_cfg_t *cfg, int64_t alerted);

/* Whether `bytes` still passes rule 1 (size) against the site's base: a
 * LEAK verdict judged again once garbage was collected (agg.h, Gates). */
bool lw_detect_holds(const lw_detect_site_t *s, const lw_detect_cfg_t *cfg, int64_t bytes);

/*
 * Feeds one observation (requests must not go backwards; equal requests
 * replace the last point) and judges. Pure: same inputs, same verdicts.
 */
lw_verdict_t lw_detect_update(lw_detect_site_t *s, const lw_detect_cfg_t *cfg,
                              uint64_t requests, int64_t bytes);

/*
 * The same with a second axis, the requests served (cumulative, never
 * going back): the series' shape (rule 2 of detect.c) holds when it holds
 * against either. The work axis (workclock.h) adds time to requests, so a
 * quiet worker's growth is judged; but a leak of so much a request whose
 * traffic falls from hundreds a second to a few grows, per unit of work,
 * at a fraction of its old pace and looks like a fill that fades
 * (test_detection's 8 KiB a request, 0.9 T fast then three requests a
 * second: announced at 2.9-4.4 T on the work axis alone, at 1.56 T with
 * this). Against requests it is as steady as it is.
 */
lw_verdict_t lw_detect_update_served(lw_detect_site_t *s, const lw_detect_cfg_t *cfg,
                                     uint64_t axis, uint64_t served, int64_t bytes);

#endif

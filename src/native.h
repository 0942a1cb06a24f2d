/*
 * native.h - is a worker's memory growing outside Python?
 *
 * NATIVE growth is the part of a worker's RSS that its tracked Python
 * bytes do not explain (C extensions, buffers malloc'd by libraries),
 * judged with the same shape rules as a Python site (src/detect.c), so
 * allocator retention that plateaus stays quiet. The caller looks once a
 * second per worker with readings it already has: the generation's pid,
 * the slot's requests, the worker's RSS from /proc and its tracked bytes.
 *
 * "Explained" is measured against the most Python memory the generation
 * has held, not the current amount: allocators keep what a collection
 * frees, so RSS follows the high-water mark of live memory. Against the
 * current amount, every gc of a pile of cyclic garbage (tracked drops by up
 * to half the threshold, RSS stays) raised the series, and the record piles
 * of a long run made a staircase that could pass for growth (make eval,
 * ok_cycles.py: a NATIVE line in about one run in five). So the series is
 * rss - (the generation's highest tracked bytes).
 *
 * And growth the detector calls a leak is still not native when Python
 * growth since the series' base explains a quarter of it (native.c).
 */
#ifndef LW_NATIVE_H
#define LW_NATIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "detect.h"

/*
 * One worker slot's state. Zero it to start; the caller keeps one per slot
 * (it carries a detector: about 1 KiB). Its fields are native.c's.
 */
typedef struct lw_native {
    int64_t pid;             /* the generation the series is about */
    lw_detect_site_t det;    /* rss - tracked_high, over the slot's requests */
    uint64_t ref_requests;   /* det.base.requests when tracked_ref was taken */
    int64_t tracked_ref;     /* tracked_high at the series' base; 0 = not taken */
    int64_t tracked_high;    /* the generation's most tracked Python bytes */
} lw_native_t;

/* What the caller reads of a worker, once a second. */
typedef struct lw_native_reading {
    int64_t pid;             /* the worker's pid: a new one starts a new generation */
    uint64_t requests;       /* the slot's requests, all cores, cumulative over its life */
    int64_t rss;             /* bytes resident (/proc/PID/statm) */
    int64_t tracked;         /* bytes of Python the worker's sites hold (its slot's) */
} lw_native_reading_t;

typedef struct lw_native_verdict {
    bool leak;               /* say NATIVE now: the detector's LEAK, unexplained */
    bool explained;          /* the detector said LEAK, Python growth explains it */
    int64_t growth;          /* bytes of unexplained RSS since the series' base */
    uint64_t requests;       /* requests since the base */
    double per_request;      /* growth / requests */
} lw_native_verdict_t;

/*
 * Feeds one look at a worker and judges it with `cfg` (the detector's
 * configuration, as for Python sites). A new pid starts the generation's
 * series afresh; so does a request count below the series' base. Cannot
 * fail. The verdict's numbers are the detector's (growth, requests, per
 * request since the base) whatever it says.
 */
lw_native_verdict_t lw_native_look(lw_native_t *n, const lw_detect_cfg_t *cfg,
                                   const lw_native_reading_t *r);

#endif

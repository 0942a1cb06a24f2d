/*
 * native.h - is a worker's memory growing outside Python?
 *
 * NATIVE growth is the part of a worker's RSS that its tracked Python
 * bytes do not explain (C extensions, buffers malloc'd by libraries),
 * judged with the same shape rules as a Python site (src/detect.c), so
 * allocator retention that plateaus stays quiet. The caller looks at a
 * worker when lw_native_due says so, with the generation's pid, the slot's
 * requests, the worker's RSS from /proc and its tracked bytes.
 *
 * When to look. Read once a second, a worker leaking natively at full
 * speed grew 350 MiB before its first two looks (issue 17): the bytes
 * leaked before the alert grew with the request rate. So the looks follow
 * the growth: each look schedules the next for when RSS will have grown
 * about T/LW_NATIVE_LOOKS_PER_T at the rate just seen (over the last two
 * looks, or the last if it was faster), between
 * LW_NATIVE_FASTEST_US and LW_NATIVE_SLOWEST_US; RSS that stays flat is
 * read less and less often, down to once a second as before. A rate seen
 * says nothing of the next requests, though: a worker that served one
 * request in the 4 ms after its warm-up served 15 in the next 4 ms, all in
 * the gap before the look its pace had scheduled, which left two quarter
 * boundaries of its series in that gap, read as flat (a flat-out native
 * leak announced at 41 requests, 2.6 T, in 1 of 40 runs in Debian 13's
 * tree with the monolithic uWSGI; CI once saw 78). So a look is also due
 * once the requests since the last look are a sixteenth of the series'
 * span (LW_NATIVE_LOOKS_PER_SPAN): every quarter's window (span/8) then
 * holds a look, whatever the request rate does between looks; a flat
 * series pays some 16 looks per doubling of its span. The detector then has its points (and
 * its confirmation) within a bounded growth whatever the rate, at the cost
 * of a read of /proc/PID/statm (a few microseconds) per look, in the
 * master, often only while a worker's RSS grows fast or its series is
 * young (requests spread the looks; a mule's or spooler's ticks of time
 * do the same).
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
 * Nor is memory that malloc holds free. glibc keeps what is freed in the
 * arena it came from, and threads that allocate at the same time get
 * arenas of their own: four threads filling bounded caches of 1.1 KiB
 * items (above pymalloc's 512 bytes) held about 1 MiB more RSS than one
 * and said NATIVE in 3 of 12 runs (make eval, ok_thread_caches.py; in 0
 * of 24 with MALLOC_ARENA_MAX=1). So each worker publishes the bytes its
 * malloc holds free (mallinfo2, engine.c), and the series is
 * rss - max(the Python high, the Python bytes now + malloc's free bytes):
 * either may hold the RSS the other let go. Not their sum: Python's large
 * objects, once freed, are malloc's free bytes, and counting them twice
 * made Python's churn a sawtooth of the series (test_native.c).
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
    uint64_t last_us;        /* the last look: when, and its RSS */
    int64_t last_rss;
    uint64_t prev_us;        /* the look before it: when, and its RSS */
    int64_t prev_rss;
    uint64_t last_requests;  /* the slot's requests at the last look */
    uint64_t next_us;        /* when the next look is due */
    int64_t seen_pid;        /* the generation lw_native_due last saw, */
    uint64_t seen_requests;  /* and the slot's requests when it first did */
} lw_native_t;

#define LW_NATIVE_LOOKS_PER_T 16       /* looks while RSS grows by a threshold */
#define LW_NATIVE_FASTEST_US 1000      /* looks never come closer than this */
#define LW_NATIVE_SLOWEST_US 1000000   /* nor further apart */
#define LW_NATIVE_FIRST_US 1000        /* a new generation's second look */
#define LW_NATIVE_LOOKS_PER_SPAN 16    /* and at least this many over the series' requests */

/* What the caller reads of a worker at a look. */
typedef struct lw_native_reading {
    int64_t pid;             /* the worker's pid: a new one starts a new generation */
    uint64_t requests;       /* the slot's requests, all cores, cumulative over its life */
    int64_t rss;             /* bytes resident (/proc/PID/statm) */
    int64_t tracked;         /* bytes of Python the worker's sites hold (its slot's) */
    uint64_t now_us;         /* when it was read (any clock that moves forward) */
    int64_t malloc_free;     /* bytes the worker's malloc holds free; 0 if unknown */
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

/*
 * Whether a look at worker generation `pid` is due at now_us, its slot
 * having served `requests` (cumulative): never before the generation
 * served `warmup` requests, counted from when this first saw its pid (what
 * a worker's first requests make resident, imports and caches, is no
 * leak: Python sites wait for the same count); then at once for the first
 * look, and when the clock went back; and, LW_NATIVE_FASTEST_US after the
 * last look, once the requests since it reach 1/LW_NATIVE_LOOKS_PER_SPAN
 * of those since the series' base (at least one), whatever the schedule
 * (the caller asks at each of its cycles, which are frequent while
 * requests are served).
 */
bool lw_native_due(lw_native_t *n, uint64_t now_us, int64_t pid, uint64_t requests,
                   uint64_t warmup);

/* When the next look is due (0: at once). */
uint64_t lw_native_next_us(const lw_native_t *n);

#endif

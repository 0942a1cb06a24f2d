#include "native.h"

#include <math.h>

/*
 * Python growth that explains 1/EXPLAINED_SHARE of the native growth makes
 * it a Python leak with allocator overhead (its LEAK line says so), not a
 * native one: leaked objects pin pymalloc pools among freed ones and leave
 * the old tables of growing dicts behind, so RSS grows 2-2.5x what leaks
 * (make eval, leak_lru_method.py: 2.1 KiB of RSS per 0.9 KiB leaked).
 */
#define EXPLAINED_SHARE 4

/*
 * A new generation: its own series and its own high. The reference
 * (tracked_ref, ref_requests) is left as the plugin left it, so that this
 * module changes no verdict: it is retaken at the first look whose series
 * base differs from ref_requests, so a new generation whose first look
 * comes at the old base's request count keeps the old generation's
 * reference (questionable; raised with issue 15).
 */
static void new_generation(lw_native_t *n, int64_t pid)
{
    n->pid = pid;
    n->tracked_high = 0;
    n->last_us = n->prev_us = 0; /* no rate across generations */
    lw_detect_reset(&n->det);
}

/* RSS growth a microsecond from look `us` (RSS `rss`) to this reading; 0
 * when flat, falling or not known. */
static double pace_since(uint64_t us, int64_t rss, const lw_native_reading_t *r)
{
    return us && r->now_us > us && r->rss > rss
               ? (double)(r->rss - rss) / (double)(r->now_us - us)
               : 0.0;
}

/*
 * Schedules the next look: when RSS will have grown T/LW_NATIVE_LOOKS_PER_T
 * at the faster of the paces since the last look and since the one before.
 * RSS grows in lumps (pages touched as written, a worker between requests):
 * a look a moment after another that saw little of a lump took its pace
 * alone, waited 21 ms, and a native leak served flat out grew 27 requests
 * (1.7 T) in the gap, which left its quarters flat and its streak reset (a
 * NATIVE line at 4.1 T: CI's Debian 13 leg, 2026-11-28, and 1 of 85 runs
 * there; the build before, 3.4 T in 1 of 20). Flat or falling over both:
 * twice the last wait, so a worker that stops growing is soon read once a
 * second again; a new generation (no pace yet) starts at
 * LW_NATIVE_FIRST_US.
 */
static void schedule(lw_native_t *n, const lw_detect_cfg_t *cfg, const lw_native_reading_t *r)
{
    double pace =
        fmax(pace_since(n->last_us, n->last_rss, r), pace_since(n->prev_us, n->prev_rss, r));
    double wait = LW_NATIVE_FIRST_US;

    if (n->last_us && r->now_us > n->last_us)
        wait = pace > 0 ? ((double)cfg->threshold / LW_NATIVE_LOOKS_PER_T) / pace
                        : 2 * (double)(n->next_us - n->last_us);
    wait = wait < LW_NATIVE_FASTEST_US ? LW_NATIVE_FASTEST_US
           : wait > LW_NATIVE_SLOWEST_US ? LW_NATIVE_SLOWEST_US : wait;
    n->prev_us = n->last_us;
    n->prev_rss = n->last_rss;
    n->last_us = r->now_us;
    n->last_rss = r->rss;
    n->last_requests = r->requests;
    n->next_us = r->now_us + (uint64_t)wait;
}

bool lw_native_due(lw_native_t *n, uint64_t now_us, int64_t pid, uint64_t requests,
                   uint64_t warmup)
{
    if (pid != n->seen_pid || requests < n->seen_requests) {
        n->seen_pid = pid;
        n->seen_requests = requests;
    }
    if (requests - n->seen_requests < warmup)
        return false;
    if (pid != n->pid || now_us >= n->next_us || now_us < n->last_us)
        return true;
    /* the series' looks spread over its requests (native.h) */
    uint64_t span = n->det.started && requests > n->det.base.requests
                        ? requests - n->det.base.requests
                        : 0;
    uint64_t step = span / LW_NATIVE_LOOKS_PER_SPAN;
    return now_us >= n->last_us + LW_NATIVE_FASTEST_US &&
           requests >= n->last_requests + (step ? step : 1);
}

uint64_t lw_native_next_us(const lw_native_t *n)
{
    return n->next_us;
}

/* What of the RSS is not native (native.h): the Python high, or the Python
 * bytes now and what malloc holds free, whichever is more. */
static int64_t explained_now(const lw_native_t *n, const lw_native_reading_t *r)
{
    int64_t held = r->tracked + (r->malloc_free > 0 ? r->malloc_free : 0);

    return held > n->tracked_high ? held : n->tracked_high;
}

lw_native_verdict_t lw_native_look(lw_native_t *n, const lw_detect_cfg_t *cfg,
                                   const lw_native_reading_t *r)
{
    lw_native_verdict_t out = {0};
    lw_verdict_t v;

    if (r->pid != n->pid)
        new_generation(n, r->pid);
    schedule(n, cfg, r);
    if (n->det.started && n->det.base.requests > r->requests) /* the count went back */
        lw_detect_reset(&n->det);
    if (r->tracked > n->tracked_high)
        n->tracked_high = r->tracked;
    v = lw_detect_update(&n->det, cfg, r->requests, r->rss - explained_now(n, r));
    /* Invariant: tracked_ref is the Python high at the series' base (or
     * later, while it was still 0), so Python growth since the base is
     * tracked_high - tracked_ref. */
    if (n->det.base.requests != n->ref_requests || !n->tracked_ref) {
        n->ref_requests = n->det.base.requests;
        n->tracked_ref = n->tracked_high;
    }
    out.growth = v.growth;
    out.requests = v.requests;
    out.per_request = v.per_request;
    if (v.kind != LW_VERDICT_LEAK)
        return out;
    out.explained = EXPLAINED_SHARE * (n->tracked_high - n->tracked_ref) >= v.growth;
    out.leak = !out.explained;
    return out;
}

/*
 * alerttext.h - what each alert says: LEAK, OOM, NATIVE and LAST WORDS, as
 * the log lines the master writes (the first line goes to the alarm too).
 *
 * Rendering only: the judgements are made elsewhere (src/detect.c through
 * src/agg.c, src/oomwatch.c, src/native.c, src/endcause.c) and passed in;
 * the sites an alert names are read from the aggregator. Every line starts
 * with "[leakwatch]", detail lines with "[leakwatch]   ". A LEAK alert's
 * lines each end in '\n'; the other alerts' lines are separated by '\n',
 * with none after the last (as the plugin always wrote them).
 *
 * Each function appends to a growing text (src/strbuf.h) from the caller's
 * allocator: nothing is cut. When memory runs out the text's `failed` is
 * set and stays set (lw_strbuf_finish returns NULL); the caller checks once.
 */
#ifndef LW_ALERTTEXT_H
#define LW_ALERTTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "agg.h"
#include "endcause.h"
#include "native.h"
#include "strbuf.h"

#define LW_ALERTTEXT_SITES 3 /* sites an OOM or NATIVE alert lists, at most */

/*
 * The LEAK alert of site `id` (0: the sites the master's full table could
 * not track): the LEAK line with the workers holding it, where it is
 * reached from (or what site 0 is the sum of), its endpoints, its
 * traceback. Appends nothing when there is no site `id`.
 */
void lw_alerttext_leak(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id);

/*
 * What holds announced site `id`, as worker (slot) wid's generation pid
 * found it (its `held`): one line, "HELD <site> on worker 2 pid 123: held
 * by: ...". The LEAK alert does not wait for the walk (the worker answers
 * after its next request, which may be long in coming); a LEAK said again
 * later carries the line among its details. wid 0: no process was asked
 * (the text says why). Appends nothing when the site has no `held`.
 */
void lw_alerttext_held(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id, uint32_t wid,
                       int64_t pid);

/* An OOM warning, as oomwatch judged it. */
typedef struct lw_alert_oom {
    uint32_t wid;            /* the worker; 0: all workers, against a shared (cgroup) limit */
    int64_t pid;             /* the worker's generation (not said for all workers) */
    uint64_t rss;            /* bytes: the worker's, or all workers' */
    double rate;             /* bytes per second */
    uint64_t eta;            /* seconds to the limit */
    uint64_t limit;          /* bytes */
} lw_alert_oom_t;

/* The OOM line and the suspect sites the worker (all workers: the whole
 * fleet) holds most of, with the bytes held. */
void lw_alerttext_oom(lw_strbuf_t *t, const lw_agg_t *agg, const lw_alert_oom_t *in);

/* A NATIVE verdict (src/native.h) of a worker (mule, spooler). */
typedef struct lw_alert_native {
    uint32_t wid;            /* the worker's slot, 1.. */
    int64_t pid;
    int64_t tracked;         /* bytes of Python it holds now */
    lw_native_verdict_t verdict;
    bool timed;              /* judged on time (a mule, a spooler): the verdict's
                                requests are ticks (LW_WORKCLOCK_TICK_US) */
    int64_t malloc_free;     /* bytes its malloc holds free, 0: unknown (not said) */
} lw_alert_native_t;

/* The NATIVE line and the worker's largest Python sites, each said
 * "growing" (judged suspect or leaking) or "flat". */
void lw_alerttext_native(lw_strbuf_t *t, const lw_agg_t *agg, const lw_alert_native_t *in);

/*
 * The LAST WORDS of a worker generation that ended (`d`, from
 * lw_agg_departures) for `cause`: the suspects it held, or, with none,
 * that it had an OOM warning (`oom_warned`: oomwatch's warned generation).
 * Returns true when it wrote them; false, appending nothing, for a
 * generation with neither (a normal recycle stays silent).
 */
bool lw_alerttext_last_words(lw_strbuf_t *t, const lw_agg_t *agg, const lw_departure_t *d,
                             lw_endcause_t cause, bool oom_warned);

#endif

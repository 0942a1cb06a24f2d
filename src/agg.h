/*
 * agg.h - the master's view: every worker's site deltas summed per site,
 * per worker, per endpoint, and judged by the detector.
 *
 * Sites are keyed by identity (file, line, function, application frame),
 * so the same line in different workers is one site. A site whose
 * innermost frame is library code but which was reached from the
 * application also feeds a "rollup" site named at the application line:
 * a leak spread over library internals (a logger per request grows in
 * logging/__init__.py at several lines) is judged and named where the
 * application causes it. Such library sites are not judged on their own,
 * so one leak makes one alert.
 *
 * Sums. A leak's bytes often spread over lines (an exception chain pins
 * frames and locals over several; a registry keeps a key, a tuple and a
 * child object, each made at its own line), so no single line reaches the
 * threshold while their total is far past it. Every line-level site (a
 * judged line, or an application line that library sites roll up to)
 * therefore also feeds the sum of its function and the sum of its file
 * (the application frame's, where there is one), and those are judged with
 * the same detector. One leak makes one alert: a sum or line is announced
 * under its own name only when no site it sums and no sum it is part of
 * was announced before; otherwise its LEAK verdict is kept quiet (the
 * alert already made says it, and grows again at doublings of its own).
 * Within one judgement the lines are announced first, then the functions,
 * then the files, so a leak at one line is named by that line, and a leak
 * spread over lines by the narrowest sum that holds it. A sum is listed
 * (lw_agg_top_sites) only once announced; its lines, with how much each
 * grew since judging began, come from lw_agg_lines_of.
 *
 * Memory: bounded by max_sites and by the workers' own bounds. The heavy
 * part, a site's detector state, exists only while the site holds at least
 * T/8 (created at T/4): sites that stay flat and small cost their identity
 * and counters only. The allocator comes from the caller.
 *
 * A full table makes room: a site that no running worker generation maps,
 * that holds no byte, has no detector state (an alerted site keeps it for
 * good) and is no rollup of a library site still known gives its id to the
 * next new identity (agg.c says how, and what it costs). What still finds
 * no room folds into site 0, "other sites", is counted (overflowed), and is
 * judged like any site, so growth there still makes an alert, one that says
 * what it is the sum of.
 *
 * Ignored sites (--leakwatch-ignore): a site is ignored when its file, or
 * the application file it is reached from, matches one of cfg.ignore's
 * fnmatch(3) patterns; decided once, when its identity is first defined.
 * Flags 0, not FNM_PATHNAME: '*' also matches '/', so a star, "/vendor/"
 * and a star (README shows it as typed) match every file under any vendor
 * directory, and "/srv/app/legacy.py" that file alone. The name matched is
 * the code object's file name, as LEAK lines print it. An ignored site
 * keeps its identity and bytes (workers still publish it, and their
 * tracked totals count it), but it is never judged, never listed by
 * lw_agg_top_sites (so never reported, charted or named a suspect) and
 * feeds no rollup. A library line reached from an ignored application
 * file is itself ignored, so a rollup is never ignored nor fed by an
 * ignored site. An ignored identity that finds no room in a full table is
 * not folded into site 0, which is judged: its deltas are dropped.
 *
 * Gates (cfg.gate). Cyclic garbage that the workers' next collection would
 * free counts as growth until then, up to half the threshold a worker
 * (gcpolicy.h). A line of garbage alone stays under the size rule (its
 * detector starts at T/4); a sum adds it to its other lines' growth: a
 * file sum of two workers' sawtooth buffers in phase and the garbage
 * beside them rose past 1.5 T and was announced (the plateau test, 7 runs
 * of 95). So a sum's LEAK verdict is announced only after every worker
 * holding a share of it has collected since the verdict
 * (lw_agg_collect_round: the round the workers are asked to run;
 * lw_agg_collected: the round a worker's ring has answered), or
 * LW_AGG_GATE_US after it for a worker that does not answer (idle, busy
 * in a long request, a mule); then only if the growth that stays still
 * passes the size rule (lw_detect_holds). Else the verdict is withdrawn
 * (lw_detect_withdraw): the next LEAK needs T/4 more growth, so a site
 * whose garbage keeps it near the size rule asks a round per T/4 of
 * growth, not one a look.
 *
 * What the cyclic collector frees (any collection: Python's own, the gc
 * policy's, a round's; the hooks see it collecting) is published apart,
 * marked (wire.h, LW_DELTA_COLLECTED): garbage, not a release, so it does
 * not make the site beat its old peak (which the garbage was in), nor its
 * detector (lw_detect_collected). Such a site is a sawtooth of garbage
 * from its low, not from its peaks: a line that collections shrank is
 * gated like a sum. Other lines are not: the wait costs a request a
 * worker, 0.75 T for make eval's leak of 1.5 MiB a request (announced at
 * 2.25 T in all instead of 1.50 T).
 */
#ifndef LW_AGG_H
#define LW_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "detect.h"
#include "procs.h"
#include "workclock.h"
#include "wire.h"

#define LW_AGG_TOP_ENDPOINTS 4
#define LW_AGG_TOP_MAX 1024 /* sites lw_agg_top_sites returns at most */
/* Site 0's line: a pseudo-site, negative like the workers' ("<no Python frame>" -1,
 * free lists -2, their own overflow -3), so renderers name it without a line. */
#define LW_AGG_OTHER_LINE (-4)

typedef struct lw_agg_cfg {
    /* The processes whose rings are fed: a "worker" `wid` below is any
     * slot of theirs, 1..lw_procs_count(&procs) (procs.h). */
    lw_procs_t procs;
    uint32_t max_sites;        /* global sites, overflow site included */
    uint32_t local_sites;      /* a worker's site ids are below this */
    uint32_t local_endpoints;  /* a worker's endpoint ids are below this */
    uint32_t max_endpoints;    /* global endpoint names */
    lw_detect_cfg_t detect;
    /* Called, when set, as site `id`'s id is about to name another site:
     * whatever the caller keeps by site id (the page's chart) is the old
     * site's. Runs inside lw_agg_feed; must not call back into the agg. */
    void (*evicted)(void *ctx, uint32_t id);
    void *evicted_ctx;
    /* fnmatch(3) patterns (flags 0) on a site's file and application file;
     * a site that matches is ignored (above). Not copied: the array and its
     * strings must outlive the aggregator. */
    const char *const *ignore;
    uint32_t nignore;
    /* Called, when set, for a worker's answer what holds its local site
     * `local` (a HELD message, holders.h): `pid` is the generation the
     * answer came from, as its HELLO said. Runs inside lw_agg_feed; may
     * read the agg and call lw_agg_set_held, nothing else of it. */
    void (*held)(void *ctx, uint32_t wid, int64_t pid, uint32_t local, const char *text,
                 uint32_t len);
    void *held_ctx;
    bool gate;                 /* announce after the workers collected (Gates, above) */
} lw_agg_cfg_t;

/* How long a gate waits for a worker that does not answer: a few analyst
 * looks, and one request of any worker that serves. */
#define LW_AGG_GATE_US 100000

/* What a site is: a line, or the sum of a function's or a file's lines. */
enum lw_agg_kind {
    LW_AGG_LINE = 0,
    LW_AGG_FUNCTION,
    LW_AGG_FILE,
};

typedef struct lw_agg_site {
    char *text;                /* identity: file, func, app file, app func, frames */
    uint32_t text_len;
    int32_t line, app_line;
    uint32_t nframes;
    bool rollup;               /* named at the application line */
    bool judged;               /* fed to the detector */
    bool ignored;              /* matched an ignore pattern: never judged nor listed */
    int64_t live;              /* bytes, all workers */
    struct {
        uint32_t endpoint;
        int64_t bytes;
    } top[LW_AGG_TOP_ENDPOINTS];
    lw_detect_site_t *det;     /* allocated once the site is worth judging */
    lw_verdict_t verdict;      /* the last one */
    bool changed;
    bool releases;             /* a worker has released half its share before */
    int64_t released_high;     /* the detector's high when it was dropped */
    uint32_t rollup_of;        /* for a library site: its rollup's id, else 0 */
    uint8_t kind;              /* enum lw_agg_kind; a sum's text is file, function ("" for
                                  a file), "", "" and its lines 0 */
    bool announced;            /* alerted under its own name */
    bool below_announced;      /* a line or function it sums was announced */
    bool pending;              /* a LEAK verdict waiting in lw_agg_judge's queue */
    uint32_t function_of;      /* the function sum its bytes also feed, else 0 */
    uint32_t file_of;          /* the file sum its bytes also feed, else 0 */
    int64_t low;               /* its lowest live bytes since first judged (INT64_MAX
                                  before): a line's growth in a sum's alert */
    double verdict_seconds;    /* seconds of activity the verdict's growth took
                                  (its requests: verdict.requests) */
    char *held;                /* what holds it, as the last worker asked said
                                  ("held by: ..."), or NULL (lw_agg_set_held) */
    uint32_t gate_round;       /* the collections its pending LEAK waits for, 0 none */
    uint64_t gate_us;          /* when it began to wait (lw_agg_look's clock) */
    int64_t gate_alerted;      /* its detector's alerted growth before that LEAK */
    bool has_rise;             /* rise is set: */
    lw_point_t rise;           /* its last point under T/16 since it had a detector */
    bool garbage;              /* a collection shrank it (LW_DELTA_COLLECTED; Gates) */
    int64_t collected;         /* bytes collections freed since it was last judged */
} lw_agg_site_t;

typedef struct lw_alert {
    uint32_t site;
    lw_verdict_t verdict;
} lw_alert_t;

typedef struct lw_agg lw_agg_t;

/* A new aggregator, or NULL if memory fails (nothing leaked). */
lw_agg_t *lw_agg_new(const lw_agg_cfg_t *cfg, const lw_alloc_t *alloc);
void lw_agg_free(lw_agg_t *agg);

/*
 * Processes records read from worker `wid`'s ring, in order. A HELLO starts
 * a new generation: the worker's previous share of every site is removed
 * (and the detector told so). Malformed input is counted, never trusted.
 * Returns 0, or -EINVAL for a bad wid.
 */
int lw_agg_feed(lw_agg_t *agg, uint32_t wid, const lw_record_t *recs, size_t n);

/*
 * Judges the sites that changed since the last call, at `requests` (all
 * workers' requests so far). Writes up to max alerts (LW_VERDICT_LEAK),
 * lines before functions before files, leaving out those that would say
 * again what an announcement said (Sums, above); when out fills, the rest
 * stay pending for the next call, so calling until it returns less than
 * max loses no alert.
 */
size_t lw_agg_judge(lw_agg_t *agg, uint64_t requests, lw_alert_t *out, size_t max);

/*
 * Judging against time as well. lw_agg_look takes the requests served so
 * far at now_us (microseconds, any clock that moves forward) and advances
 * the axis sites are judged on: requests plus tenths of a second of
 * activity (workclock.h), so growth between requests (a thread of a quiet
 * worker) has an axis too. lw_agg_judge_now then judges as lw_agg_judge
 * does, at the last look; a verdict's span is still said in requests
 * (verdict.requests, per_request) and in seconds (verdict_seconds).
 * lw_agg_judge is a look at time 0 and a judgement: requests alone.
 */
uint64_t lw_agg_look(lw_agg_t *agg, uint64_t requests, uint64_t now_us);

/* Gates (above): the collection round the workers should have run, and
 * what worker `wid` says it ran (read before its ring is drained). */
uint32_t lw_agg_collect_round(const lw_agg_t *agg);
void lw_agg_collected(lw_agg_t *agg, uint32_t wid, uint32_t round);
size_t lw_agg_judge_now(lw_agg_t *agg, lw_alert_t *out, size_t max);

/* The axis, for lw_workclock_warm. */
const lw_workclock_t *lw_agg_clock(const lw_agg_t *agg);

/* Whether site s's verdict grew over more tenths of a second of activity
 * than requests (a thread's growth, a quiet worker's): it is then said
 * over seconds (per second), not over requests (per request). */
bool lw_agg_over_time(const lw_agg_site_t *s);

/* The settings `agg` was made with. */
const lw_agg_cfg_t *lw_agg_config(const lw_agg_t *agg);

/* The site `id`, or NULL. Valid until the next lw_agg_feed: a site may then
 * be evicted and its id name another one (see cfg.evicted). */
const lw_agg_site_t *lw_agg_site(const lw_agg_t *agg, uint32_t id);

/* Bytes worker (slot) `wid` holds at site `id`; 0 when none or out of range. */
int64_t lw_agg_share(const lw_agg_t *agg, uint32_t id, uint32_t wid);

/* An endpoint's name ("?" if unknown). */
const char *lw_agg_endpoint(const lw_agg_t *agg, uint32_t id);

/* Field `i` of a site's identity text: 0 file, 1 function, 2 app file,
 * 3 app function, then 3 per frame (file, line, function). "" past the end. */
const char *lw_agg_field(const lw_agg_site_t *site, uint32_t i);

typedef struct lw_agg_stats {
    uint32_t sites;        /* ids in use, site 0 included */
    uint32_t endpoints;
    uint64_t overflowed;   /* site definitions folded into site 0: table full (nothing
                              to evict) or memory short */
    uint64_t evicted;      /* sites whose id went to a new identity */
    uint64_t malformed;    /* records that made no sense */
    uint64_t deltas;
} lw_agg_stats_t;

void lw_agg_stats(const lw_agg_t *agg, lw_agg_stats_t *out);

/*
 * The judged sites (lines, and sums once announced) holding the most bytes in worker `wid` (all workers when
 * wid is 0), site 0 included when it holds any, largest first; only those
 * judged suspect or leaking when suspects_only; up to max ids into out
 * (LW_AGG_TOP_MAX at most). Returns the count.
 */
size_t lw_agg_top_sites(const lw_agg_t *agg, uint32_t wid, bool suspects_only, uint32_t *out,
                        size_t max);

/* What a site of kind `kind` is called: "line", "function", "file". */
const char *lw_agg_kind_name(uint8_t kind);

/* A source line of a sum, its sites together: what it allocates itself,
 * what libraries allocate for it, each traceback that reaches it. */
typedef struct lw_agg_line {
    uint32_t id;      /* its site that grew most: the name and traceback */
    int64_t grown;    /* bytes its sites grew since judging began */
    int64_t via;      /* of which libraries allocated for it (rollup sites) */
} lw_agg_line_t;

#define LW_AGG_LINES_MAX 16

/*
 * The lines whose bytes feed sum `id` (a function's or file's; for a line:
 * itself), those that grew most since judging began first: up to max (at
 * most LW_AGG_LINES_MAX) into out. *nlines gets how many lines grew in
 * all, *total their summed growth. Returns the count written. O(sites):
 * for alerts and the report, not per delta.
 */
size_t lw_agg_lines_of(const lw_agg_t *agg, uint32_t id, lw_agg_line_t *out, size_t max,
                       uint32_t *nlines, int64_t *total);

/*
 * The endpoints whose requests allocated most of site `id`'s bytes, most
 * first: up to LW_AGG_TOP_ENDPOINTS endpoint ids (lw_agg_endpoint names
 * them) and their bytes. A line counts its own; a sum adds up its lines'
 * (the lines lw_agg_lines_of weighs), O(sites + endpoints). Returns how
 * many.
 */
size_t lw_agg_endpoints_of(const lw_agg_t *agg, uint32_t id, uint32_t *endpoints, int64_t *bytes);

/*
 * Where to look for what holds site `id` (holders.h): the worker that
 * holds most of it and that site's worker-local id there. For a sum, its
 * line that grew most; for a line reached through libraries, the library
 * site that holds most. Returns false when no running worker maps one.
 * O(sites x workers + local sites), per alert.
 */
bool lw_agg_walk_target(const lw_agg_t *agg, uint32_t id, uint32_t *wid, uint32_t *local);

/* The pid of worker (slot) `wid`'s generation, as its HELLO said; 0 before
 * one (or for a bad wid). */
int64_t lw_agg_pid(const lw_agg_t *agg, uint32_t wid);

/* Keeps text[0..len) as what holds site `id` (its `held`, '\0'-terminated),
 * replacing what was kept. 0, -EINVAL (no such site) or -ENOMEM (the old
 * text stays). */
int lw_agg_set_held(lw_agg_t *agg, uint32_t id, const char *text, size_t len);

/* A worker generation that ended (its successor said HELLO), and what it held. */
typedef struct lw_departure {
    uint32_t wid;
    int64_t pid;            /* the generation that ended */
    uint32_t nsuspects;
    uint32_t suspects[3];   /* its sites judged suspect or leaking, largest share first */
    int64_t bytes[3];       /* its share of each */
} lw_departure_t;

/* Takes up to max departures seen since the last call (oldest first). */
size_t lw_agg_departures(lw_agg_t *agg, lw_departure_t *out, size_t max);

/* Sites (site 0 included) whose last verdict was suspect or leak. O(sites). */
uint32_t lw_agg_suspects(const lw_agg_t *agg);


#endif

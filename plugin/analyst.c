/*
 * analyst.c - the master's analyst thread (see analyst.h): drains the
 * rings, judges, watches RSS against the memory limit, raises alerts and
 * sets the metrics, every 20 ms, in its own thread so that neither the
 * master's loop (which may sleep a second between events) sets the pace of
 * detection nor detection lengthens the loop. The decisions are src/'s:
 * the aggregator and detector, the end cause, the memory limit's trend.
 */
#include <uwsgi.h>

#include "../src/agg.h"
#include "../src/endcause.h"
#include "../src/expo.h"
#include "../src/hist.h"
#include "../src/outbox.h"
#include "../src/page.h"
#include "../src/report.h"
#include "../src/size.h"
#include "../src/tick.h"
#include "analyst.h"
#include "engine.h"
#include "limits.h"
#include "threads.h"

#define LW_ANALYST_NS 20000000 /* the analyst looks every 20 ms when idle */
#define LW_ANALYST_BUSY_NS 2000000 /* and every 2 ms while records flow */
#define LW_METRICS_US 1000000  /* metrics, RSS and the OOM projection: once a second */
#define LW_DRAIN_BATCH 512
#define LW_DRAIN_MAX 65536     /* records per worker per cycle: the loop stays short */
#define LW_ALERTS_MAX 16       /* alerts judged per lock hold */
#define LW_MAX_SITES 65536     /* the master's site table */
#define LW_MAX_ENDPOINTS 4096  /* the master's endpoint names */
#define LW_PAGE_SITES 12       /* site cards on the page (/ on --leakwatch-http) */
#define LW_PAGE_REFRESH 5      /* seconds between the page's reloads */
#define LW_RSS_POINTS 30       /* seconds of RSS history per worker */
#define LW_ALERT_HISTORY 64
#define LW_DEPARTURES_MAX 16   /* worker ends taken per cycle */

extern struct uwsgi_server uwsgi;

static const lw_alloc_t heap = {calloc, free};
/* Set by lw_analyst_start, before the thread; read-only after. */
static const lw_config_t *cfg;
static lw_shm_t *shm;
static const lw_limit_t *limit;
static lw_metrics_t *metrics;
static pthread_t analyst;
/*
 * Guards the view (agg, hist, the alert history, the RSS tracks, the metric
 * values) between the analyst and the listener threads. Held for a drain,
 * a judgement or a render.
 */
static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;
static lw_agg_t *agg;
/* The page's charts (--leakwatch-http only). */
static lw_hist_t *hist;
static lw_record_t drain_buf[LW_DRAIN_BATCH];
/* Alerts by kind; leakwatch.alerts is their sum. */
static lw_expo_kind_t alert_kinds[] = {
    {"LEAK", 0}, {"NATIVE", 0}, {"OOM", 0}, {"LAST WORDS", 0}};
static struct rss_track {
    int64_t pid;
    uint32_t n;
    double t[LW_RSS_POINTS], rss[LW_RSS_POINTS];
    uint64_t warned_eta;         /* the ETA last warned about, 0 = none */
    int64_t warned_pid;          /* the generation an OOM line was about */
    double rate;                 /* the last trend, bytes/s */
    lw_endcause_start_t gen_start; /* slot requests when this generation began */
    lw_detect_site_t native;     /* RSS not explained by tracked Python bytes */
    uint64_t native_base;        /* native.base.requests when tracked_ref was taken */
    int64_t tracked_ref;         /* tracked Python bytes at the native series' base */
    int64_t tracked_high;        /* the generation's most tracked Python bytes */
    int64_t gen_pid;             /* the generation the analyst sees, every cycle */
    uint64_t gen_rss_high;       /* its highest per-request RSS (uWSGI's rss_size) */
    int64_t ended_pid;           /* the generation before it, and its highest RSS */
    uint64_t ended_rss_high;
} *rss_tracks;                   /* [nworkers + 1] */
static uint64_t oom_kills;       /* the cgroup's oom_kill count at the last look */
/* Alerts raised under view_lock, said after it (lw_master_raise, lw_master_say);
 * the analyst thread's only. */
static lw_outbox_t *outbox;
static struct {
    int64_t time;
    const char *kind;
    char text[512];
} history[LW_ALERT_HISTORY];
static uint64_t history_len;

int64_t lw_mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* Site `id` is evicted, its id about to name another site: the chart kept
 * under that id is the old site's (view_lock held: inside lw_agg_feed). */
static void lw_master_forget_chart(void *ctx, uint32_t id)
{
    (void)ctx;
    if (hist)
        lw_hist_forget(hist, id);
}

/*
 * The detector's settings, for sites and for native growth alike: two
 * looks, the second T/4 further grown (detect.c), which is what a third
 * look used to add.
 */
#define LW_CONFIRM_LOOKS 2

static lw_detect_cfg_t lw_master_detect_cfg(void)
{
    lw_detect_cfg_t d = {(int64_t)cfg->threshold, LW_CONFIRM_LOOKS,
                         (int64_t)lw_config_sample_interval(cfg)};
    return d;
}

static void lw_master_make_agg(void)
{
    lw_agg_cfg_t acfg = {
        .nworkers = shm->nworkers,
        .max_sites = LW_MAX_SITES,
        .local_sites = LW_ENGINE_SITES,
        .local_endpoints = LW_ENGINE_ENDPOINTS,
        .max_endpoints = LW_MAX_ENDPOINTS,
        .detect = lw_master_detect_cfg(),
        .evicted = lw_master_forget_chart,
    };

    agg = lw_agg_new(&acfg, &heap);
    outbox = agg ? lw_outbox_new(&heap) : NULL;
    if (agg && !outbox) {
        lw_agg_free(agg);
        agg = NULL;
    }
    if (agg && cfg->http && !(hist = lw_hist_new(&heap, 1)))
        uwsgi_log("[leakwatch] master: out of memory for the history; the page has no charts\n");
}

/* The page's charts: the live bytes of the sites it shows, when a frame is due. */
static void lw_master_record_history(void)
{
    uint32_t ids[LW_HIST_SERIES];
    size_t n;

    if (!hist || !lw_hist_begin(hist, lw_mono_seconds()))
        return;
    n = lw_page_pick_sites(agg, ids, LW_HIST_SERIES);
    for (size_t i = 0; i < n; i++)
        lw_hist_put(hist, ids[i], lw_agg_site(agg, ids[i])->live);
}

/* Reads what every worker published since the last cycle. Never waits.
 * Returns the number of records read. */
static uint64_t lw_master_drain(void)
{
    uint64_t all = 0;

    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        lw_ring_t *ring = lw_shm_ring(shm, wid);
        uint64_t n, total = 0;
        while (total < LW_DRAIN_MAX && (n = lw_ring_pop(ring, drain_buf, LW_DRAIN_BATCH)) > 0) {
            lw_agg_feed(agg, wid, drain_buf, n);
            total += n;
        }
        all += total;
    }
    return all;
}

/* Keeps the alert's first line for the report (last LW_ALERT_HISTORY). */
static void lw_remember_alert(const char *kind, const char *text)
{
    uint64_t slot = history_len++ % LW_ALERT_HISTORY;

    for (size_t k = 0; k < sizeof(alert_kinds) / sizeof(alert_kinds[0]); k++)
        alert_kinds[k].count += strcmp(alert_kinds[k].kind, kind) == 0;
    history[slot].time = (int64_t)time(NULL);
    history[slot].kind = kind;
    snprintf(history[slot].text, sizeof(history[slot].text), "%.*s",
             (int)strcspn(text, "\n"), text);
}

/*
 * Every alert, LEAK, OOM, NATIVE or LAST WORDS, goes through here, in the
 * analyst with view_lock held: counted by kind, kept for the report and the
 * page, and queued to be logged and raised as the alarm by lw_master_say
 * once the lock is released. `text`: the alert's line, then its detail
 * lines, each starting with "[leakwatch]".
 */
static void lw_master_raise(const char *kind, const char *text, size_t len)
{
    lw_remember_alert(kind, text);
    lw_outbox_put(outbox, kind, text, len); /* when it cannot, lw_master_say says so */
}

/*
 * Says what lw_master_raise queued: each alert's lines in the log, its
 * first line to the alarm. Analyst, view_lock NOT held: writing the log can
 * block for as long as its reader is slow (a pipe, uWSGI's log master, a
 * full disk), and uWSGI logs when the alarm thread's queue is full; either,
 * under the lock, kept the page, /metrics and the report waiting.
 */
static void lw_master_say(void)
{
    static uint64_t dropped_said;
    const char *kind, *text;
    size_t len;

    for (size_t i = 0; (text = lw_outbox_get(outbox, i, &kind, &len)); i++) {
        for (const char *line = text, *end = text + len; line < end;) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
            uwsgi_log("%.*s\n", (int)n, line);
            if (line == text)
                uwsgi_alarm_trigger((char *)cfg->alarm, (char *)line, n);
            line += n + 1;
        }
    }
    lw_outbox_clear(outbox);
    if (lw_outbox_dropped(outbox) > dropped_said) {
        dropped_said = lw_outbox_dropped(outbox);
        uwsgi_log("[leakwatch] master: out of memory: %llu alerts went unlogged (the report "
                  "lists them)\n", (unsigned long long)dropped_said);
    }
}

/* Appends printf-style to text (len bytes) at *at; what does not fit is cut. */
__attribute__((format(printf, 4, 5))) static void lw_put(char *text, size_t len, size_t *at,
                                                         const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*at + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(text + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

/* The LEAK alert of a site. */
static void lw_master_alert(uint32_t site)
{
    static char text[16384];
    size_t len = lw_agg_describe(agg, site, text, sizeof(text));

    lw_master_raise("LEAK", text, len);
}

/*
 * Judges what changed and raises the alerts, LW_ALERTS_MAX at most: they
 * are said before the next batch is judged. Returns 1 when the batch was
 * full (more may be waiting), else 0.
 */
static int lw_master_judge(void)
{
    lw_alert_t alerts[LW_ALERTS_MAX];
    uint64_t requests = 0;
    uint32_t live = 0;
    size_t n;

    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        lw_worker_view_t view;
        if (lw_shm_read(shm, wid, &view) < 0 || view.pid == 0)
            continue;
        requests += view.requests; /* cumulative over respawns: never goes back */
        live += view.pid == uwsgi.workers[wid].pid;
    }
    /* Warm-up: lazy initialisation in the first requests is not growth. */
    if (live == 0 || requests < cfg->warmup * live)
        return 0;
    n = lw_agg_judge(agg, requests, alerts, LW_ALERTS_MAX);
    for (size_t i = 0; i < n; i++)
        lw_master_alert(alerts[i].site);
    return n == LW_ALERTS_MAX;
}

/* A worker's resident set, from /proc (bytes), or -1. */
static int64_t lw_rss_of(int64_t pid)
{
    char path[64], text[128];
    long pages = 0, resident = 0;

    snprintf(path, sizeof(path), "/proc/%lld/statm", (long long)pid);
    if (lw_read_text(path, text, sizeof(text)) < 0 ||
        sscanf(text, "%ld %ld", &pages, &resident) != 2 || resident < 0)
        return -1;
    return (int64_t)resident * (int64_t)uwsgi.page_size;
}

/* The OOM warning for worker wid (0: all workers, a shared limit), with its top sites. */
static void lw_master_oom(uint32_t wid, int64_t pid, int64_t rss, double rate, uint64_t eta)
{
    static char text[4096];
    char a[32], b[32], c[32];
    uint32_t top[3];
    size_t n = lw_agg_top_sites(agg, limit->shared ? 0 : wid, true, top, 3), at = 0;

    if (limit->shared)
        lw_put(text, sizeof(text), &at,
               "[leakwatch] OOM all workers: rss %s growing %s/min, cgroup limit %s in ~%llum%02llus",
               lw_size_format((uint64_t)rss, a, sizeof(a)),
               lw_size_format((uint64_t)(rate * 60.0), b, sizeof(b)),
               lw_size_format(limit->bytes, c, sizeof(c)),
               (unsigned long long)(eta / 60), (unsigned long long)(eta % 60));
    else
        lw_put(text, sizeof(text), &at,
               "[leakwatch] OOM worker %u pid %lld: rss %s growing %s/min, limit %s in ~%llum%02llus",
               wid, (long long)pid, lw_size_format((uint64_t)rss, a, sizeof(a)),
               lw_size_format((uint64_t)(rate * 60.0), b, sizeof(b)),
               lw_size_format(limit->bytes, c, sizeof(c)),
               (unsigned long long)(eta / 60), (unsigned long long)(eta % 60));
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *s = lw_agg_site(agg, top[i]);
        int64_t bytes = limit->shared ? s->live : lw_agg_share(agg, top[i], wid);
        lw_put(text, sizeof(text), &at, "\n[leakwatch]   suspect %s:%d in %s(): %s",
               lw_agg_field(s, 0), s->line, lw_agg_field(s, 1),
               lw_size_format((uint64_t)bytes, a, sizeof(a)));
    }
    lw_master_raise("OOM", text, at);
}

/*
 * Native growth: the part of a worker's RSS that its tracked Python sites do
 * not explain, judged with the same shape rules as a site (so allocator
 * retention that plateaus stays quiet). Analyst thread, once a second.
 *
 * "Explained" is measured against the most Python memory the worker has
 * held, not the current amount: allocators keep what a collection frees,
 * so RSS follows the high-water mark of live memory. Against the current
 * amount, every gc of a pile of cyclic garbage (tracked drops by up to half
 * the threshold, RSS stays) raised the series, and the record piles of a
 * long run made a staircase that could pass for growth (make eval,
 * ok_cycles.py: a NATIVE line in about one run in five).
 */
static void lw_master_native(uint32_t wid, int64_t pid, int64_t rss)
{
    struct rss_track *r = &rss_tracks[wid];
    lw_worker_slot_t *slot = lw_shm_worker(shm, wid);
    int64_t tracked = atomic_load_explicit(&slot->tracked, memory_order_relaxed);
    uint64_t requests = atomic_load_explicit(&lw_shm_core(shm, wid, 0)->requests,
                                             memory_order_relaxed);
    lw_detect_cfg_t dcfg = lw_master_detect_cfg();
    static char text[2048];
    char a[32], b[32], c[32];
    size_t at = 0;
    lw_verdict_t v;

    for (uint32_t core = 1; core < shm->ncores; core++)
        requests += atomic_load_explicit(&lw_shm_core(shm, wid, core)->requests,
                                         memory_order_relaxed);
    if (r->native.started && r->native.base.requests > requests)
        lw_detect_reset(&r->native);
    if (tracked > r->tracked_high)
        r->tracked_high = tracked;
    v = lw_detect_update(&r->native, &dcfg, requests, rss - r->tracked_high);
    if (r->native.base.requests != r->native_base || !r->tracked_ref) {
        r->native_base = r->native.base.requests;
        r->tracked_ref = r->tracked_high;
    }
    if (v.kind != LW_VERDICT_LEAK)
        return;
    /* Python growth that explains a quarter of it makes it a Python leak
     * with allocator overhead (its LEAK line says so), not a native one:
     * leaked objects pin pymalloc pools among freed ones and leave the old
     * tables of growing dicts behind, so RSS grows 2-2.5x what leaks (make
     * eval, leak_lru_method.py: 2.1 KiB of RSS per 0.9 KiB leaked). */
    if (4 * (r->tracked_high - r->tracked_ref) >= v.growth)
        return;
    lw_put(text, sizeof(text), &at,
           "[leakwatch] NATIVE worker %u pid %lld: rss +%s over %llu requests (%s/req) that no "
           "Python site explains (tracked %s)", wid, (long long)pid,
           lw_size_format((uint64_t)v.growth, a, sizeof(a)), (unsigned long long)v.requests,
           lw_size_format((uint64_t)(v.per_request > 0 ? v.per_request : 0), b, sizeof(b)),
           lw_size_format((uint64_t)(tracked > 0 ? tracked : 0), c, sizeof(c)));
    /* the worker's largest Python sites, for the record: they are not growing */
    uint32_t top[3];
    size_t n = lw_agg_top_sites(agg, wid, false, top, 3);
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *st = lw_agg_site(agg, top[i]);
        lw_put(text, sizeof(text), &at, "\n[leakwatch]   python site %s:%d in %s(): %s, %s",
               lw_agg_field(st, 0), st->line, lw_agg_field(st, 1),
               lw_size_format((uint64_t)lw_agg_share(agg, top[i], wid), a, sizeof(a)),
               st->det && st->verdict.kind != LW_VERDICT_NONE ? "growing" : "flat");
    }
    lw_master_raise("NATIVE", text, at);
}

/* Once a second: each worker's RSS, its trend, and how far the limit is. */
static void lw_master_project(double now_s)
{
    double total_rss = 0, total_rate = 0;

    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        struct rss_track *r = &rss_tracks[wid];
        int64_t pid = uwsgi.workers[wid].pid, rss;
        double rate;
        uint64_t eta;

        metrics->worker[wid].oom_eta = 0;
        if (pid <= 0 || (rss = lw_rss_of(pid)) < 0)
            continue;
        if (pid != r->pid) { /* a new worker: its own series (the last words keep theirs) */
            r->pid = pid;
            r->n = 0;
            r->rate = 0.0;
            r->warned_eta = 0;
            r->tracked_high = 0;
            lw_detect_reset(&r->native);
        }
        if (r->n == LW_RSS_POINTS) {
            memmove(r->t, r->t + 1, sizeof(double) * (LW_RSS_POINTS - 1));
            memmove(r->rss, r->rss + 1, sizeof(double) * (LW_RSS_POINTS - 1));
            r->n--;
        }
        r->t[r->n] = now_s;
        r->rss[r->n] = (double)rss;
        r->n++;
        rate = r->n >= 5 ? lw_trend_slope(r->t, r->rss, r->n) : 0.0;
        total_rss += (double)rss;
        total_rate += rate;
        r->rate = rate;
        lw_master_native(wid, pid, rss);
        if (!limit->bytes || limit->shared)
            continue;
        eta = lw_oom_eta((uint64_t)rss, limit->bytes, rate);
        metrics->worker[wid].oom_eta = (int64_t)eta;
        /* warn once, and again only when the ETA has halved */
        if (eta && eta < cfg->oom_horizon && (!r->warned_eta || eta * 2 <= r->warned_eta)) {
            r->warned_eta = eta;
            r->warned_pid = pid;
            lw_master_oom(wid, pid, rss, rate, eta);
        }
    }
    if (limit->bytes && limit->shared) {
        uint64_t eta = lw_oom_eta((uint64_t)total_rss, limit->bytes, total_rate);
        for (uint32_t wid = 1; wid <= shm->nworkers; wid++)
            metrics->worker[wid].oom_eta = (int64_t)eta;
        if (eta && eta < cfg->oom_horizon &&
            (!rss_tracks[0].warned_eta || eta * 2 <= rss_tracks[0].warned_eta)) {
            rss_tracks[0].warned_eta = eta;
            lw_master_oom(0, (int64_t)getpid(), (int64_t)total_rss, total_rate, eta);
        }
    }
}

/*
 * Every analyst cycle: the highest RSS of each worker generation. With an
 * RSS limit uWSGI's workers record their RSS after every request; a
 * generation that leaks fast can reach the limit and be recycled between
 * two of the once-a-second readings (seen: a generation holding 246 MiB
 * against a 60 MiB limit was called "gone"), so the cause of its end must
 * not rest on those alone.
 */
static void lw_master_watch_generations(void)
{
    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        struct rss_track *r = &rss_tracks[wid];
        int64_t pid = uwsgi.workers[wid].pid;
        if (pid != r->gen_pid) {
            if (r->gen_pid > 0) {
                r->ended_pid = r->gen_pid;
                r->ended_rss_high = r->gen_rss_high;
            }
            r->gen_pid = pid;
            r->gen_rss_high = 0; /* the slot may still show the last generation's */
            continue;
        }
        if (uwsgi.workers[wid].rss_size > r->gen_rss_high)
            r->gen_rss_high = uwsgi.workers[wid].rss_size;
    }
}

/*
 * Why the generation of a departure ended (src/endcause.h judges; this
 * gathers the readings). Called for every departure, silent ones too, so
 * that each OOM kill explains one end only and each generation's request
 * count starts where its predecessor's ended.
 */
static lw_endcause_t lw_end_cause(const lw_departure_t *d)
{
    struct rss_track *r = &rss_tracks[d->wid];
    lw_worker_view_t view;
    int rc = lw_shm_read(shm, d->wid, &view);
    int same = r->pid == d->pid; /* the /proc series is still this generation's */
    lw_endcause_readings_t in = {
        .oom_kills_seen = oom_kills,
        .oom_kills = lw_limits_oom_kills(),
        .rss_high = r->ended_pid == d->pid ? r->ended_rss_high : 0,
        .rss_last = same && r->n ? (uint64_t)r->rss[r->n - 1] : 0,
        .rss_rate = same ? r->rate : 0.0,
        .reload_on_rss = uwsgi.reload_on_rss,
        .evil_reload_on_rss = uwsgi.evil_reload_on_rss,
        .max_requests = uwsgi.max_requests,
    };

    in.served_known = lw_endcause_served(&r->gen_start, rc, rc == 0 ? view.requests : 0,
                                         &in.served);
    if (in.oom_kills > oom_kills)
        oom_kills = in.oom_kills;
    return lw_endcause_judge(&in);
}

/* The last words of workers that ended holding suspects or an OOM warning. */
static void lw_master_last_words(void)
{
    lw_departure_t deps[LW_DEPARTURES_MAX];
    size_t n = lw_agg_departures(agg, deps, LW_DEPARTURES_MAX);
    static char text[2048];
    char b[32];

    for (size_t i = 0; i < n; i++) {
        const lw_departure_t *d = &deps[i];
        lw_endcause_t cause = lw_end_cause(d);
        size_t at = 0;

        if (d->nsuspects == 0 && rss_tracks[d->wid].warned_pid != d->pid)
            continue; /* a normal recycle: stays silent */
        lw_put(text, sizeof(text), &at, "[leakwatch] LAST WORDS worker %u pid %lld, %s:", d->wid,
               (long long)d->pid, lw_endcause_text(cause));
        for (uint32_t k = 0; k < d->nsuspects; k++) {
            const lw_agg_site_t *s = lw_agg_site(agg, d->suspects[k]);
            lw_put(text, sizeof(text), &at, "%s %s:%d in %s() held %s", k ? "," : "",
                   lw_agg_field(s, 0), s->line, lw_agg_field(s, 1),
                   lw_size_format((uint64_t)d->bytes[k], b, sizeof(b)));
        }
        if (d->nsuspects == 0)
            lw_put(text, sizeof(text), &at, " it had an OOM warning");
        lw_master_raise("LAST WORDS", text, at);
    }
}

/* Once a second, in the analyst: what the metrics show. */
static void lw_master_update_metrics(void)
{
    static int64_t last_tracked[LW_SHM_MAX_WORKERS + 1];
    static uint64_t last_spawn[LW_SHM_MAX_WORKERS + 1];
    /* samples and lost are counters: what ended generations counted stays in
     * them (a respawned worker starts its slot's counts from 0). Per slot,
     * the most its current generation has shown; then the sum of the ended. */
    static uint64_t gen_samples[LW_SHM_MAX_WORKERS + 1], gen_lost[LW_SHM_MAX_WORKERS + 1];
    static uint64_t ended_samples, ended_lost;
    int64_t tracked = 0, samples = 0, lost = 0;
    lw_agg_stats_t ast;

    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        lw_worker_slot_t *slot = lw_shm_worker(shm, wid);
        int64_t t = atomic_load_explicit(&slot->tracked, memory_order_relaxed);
        uint64_t spawn = atomic_load_explicit(&slot->spawns, memory_order_relaxed);
        lw_worker_metrics_t *m = &metrics->worker[wid];
        if (spawn != last_spawn[wid]) { /* a new generation starts its own rate */
            last_spawn[wid] = spawn;
            last_tracked[wid] = t;
            m->growth_rate = 0;
            ended_samples += gen_samples[wid];
            ended_lost += gen_lost[wid];
            gen_samples[wid] = gen_lost[wid] = 0;
        }
        /* bytes per minute, smoothed over about five seconds */
        m->growth_rate = (4 * m->growth_rate + (t - last_tracked[wid]) * 60) / 5;
        last_tracked[wid] = t;
        m->tracked_bytes = t;
        tracked += t;
        uint64_t sa = atomic_load_explicit(&slot->samples, memory_order_relaxed);
        uint64_t lo = atomic_load_explicit(&slot->lost, memory_order_relaxed);
        gen_samples[wid] = sa > gen_samples[wid] ? sa : gen_samples[wid];
        gen_lost[wid] = lo > gen_lost[wid] ? lo : gen_lost[wid];
        samples += (int64_t)gen_samples[wid];
        lost += (int64_t)gen_lost[wid];
    }
    samples += (int64_t)ended_samples;
    lost += (int64_t)ended_lost;
    lw_agg_stats(agg, &ast);
    metrics->tracked_bytes = tracked;
    metrics->samples = samples;
    metrics->lost = lost + (int64_t)ast.overflowed + (int64_t)ast.malformed;
    metrics->suspects = (int64_t)lw_agg_suspects(agg);
    lw_master_project((double)uwsgi_micros() / 1e6);
    metrics->alerts = 0;
    for (size_t k = 0; k < sizeof(alert_kinds) / sizeof(alert_kinds[0]); k++)
        metrics->alerts += (int64_t)alert_kinds[k].count;
}

/*
 * The analyst: drains the rings and judges, every 20 ms, in its own thread
 * so that neither the master's loop (which may sleep a second between
 * events) sets the pace of detection nor detection lengthens the loop.
 */
static void *lw_analyst(void *arg)
{
    sigset_t all;
    struct timespec idle = {0, LW_ANALYST_NS}, busy = {0, LW_ANALYST_BUSY_NS};

    (void)arg;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the master loop's */
    lw_tick_t metrics_tick;

    lw_tick_init(&metrics_tick, LW_METRICS_US);
    for (;;) {
        pthread_mutex_lock(&view_lock);
        lw_master_watch_generations();
        uint64_t read = lw_master_drain();
        lw_master_last_words(); /* before judging: the dead worker's view is gone already */
        int more = lw_master_judge();
        lw_master_record_history();
        if (lw_tick_due(&metrics_tick, uwsgi_micros()))
            lw_master_update_metrics();
        pthread_mutex_unlock(&view_lock);
        lw_master_say(); /* unlocked: a slow log holds up this thread only */
        /* while deltas flow, look often: each look is a point of the series;
         * a full batch of alerts: judge the rest at once */
        if (!more)
            nanosleep(read ? &busy : &idle, NULL);
    }
    return NULL;
}

/*
 * The live workers as the report, the page and /metrics show them (view_lock
 * held): an array from the heap, one record per worker slot at most, that
 * the caller frees; *n says how many are filled. Sized by the real worker
 * count: a record for each of the 8,192 workers shm allows (460 KB) on a
 * listener's stack crashed the master where threads get small stacks
 * (musl: 128 KiB; glibc takes RLIMIT_STACK). Returns NULL when memory runs
 * out.
 */
static lw_report_worker_t *lw_master_workers(size_t *n)
{
    lw_report_worker_t *workers = calloc(shm->nworkers, sizeof(*workers));
    size_t nw = 0;

    *n = 0;
    if (!workers)
        return NULL;
    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        lw_worker_view_t view;
        if (lw_shm_read(shm, wid, &view) < 0 || view.pid == 0)
            continue;
        workers[nw].id = wid;
        workers[nw].pid = view.pid;
        workers[nw].requests = view.requests;
        /* uWSGI fills rss_size only with an RSS limit or a memory report;
         * the analyst reads /proc once a second for every worker */
        const struct rss_track *r = &rss_tracks[wid];
        workers[nw].rss = r->n && r->pid == view.pid ? (int64_t)r->rss[r->n - 1]
                                                     : (int64_t)uwsgi.workers[wid].rss_size;
        workers[nw].tracked = metrics->worker[wid].tracked_bytes;
        workers[nw].growth_rate = metrics->worker[wid].growth_rate;
        workers[nw].oom_eta = metrics->worker[wid].oom_eta;
        nw++;
    }
    *n = nw;
    return workers;
}

/* The alert history, oldest first (view_lock held). Returns the count. */
static size_t lw_master_alerts(lw_report_alert_t *alerts)
{
    uint64_t first = history_len > LW_ALERT_HISTORY ? history_len - LW_ALERT_HISTORY : 0;
    size_t na = 0;

    for (uint64_t i = first; i < history_len; i++, na++) {
        alerts[na].time = history[i % LW_ALERT_HISTORY].time;
        alerts[na].kind = history[i % LW_ALERT_HISTORY].kind;
        alerts[na].text = history[i % LW_ALERT_HISTORY].text;
    }
    return na;
}

/* Renders the report from the current view (view_lock held by the caller).
 * Returns NULL when memory runs out. */
static char *lw_master_render(void)
{
    lw_report_alert_t alerts[LW_ALERT_HISTORY];
    size_t nw, na = lw_master_alerts(alerts);
    lw_report_worker_t *workers = lw_master_workers(&nw);
    lw_report_input_t in = {UWSGI_VERSION, cfg, workers, nw, agg, alerts, na};
    char *doc = workers ? lw_report_render(&in) : NULL;

    free(workers);
    return doc;
}

/* The page (GET /), from the current view (view_lock held). */
static char *lw_master_page(size_t *len)
{
    lw_report_alert_t alerts[LW_ALERT_HISTORY];
    size_t nw;
    lw_report_worker_t *workers = lw_master_workers(&nw);
    lw_page_input_t in = {
        .version = UWSGI_VERSION, .cfg = cfg, .mem_limit = limit->bytes,
        .limit_shared = limit->shared, .workers = workers,
        .nworkers = nw, .agg = agg, .hist = hist,
        .hist_now = lw_mono_seconds(), .alerts = alerts, .nalerts = lw_master_alerts(alerts),
        .samples = (uint64_t)metrics->samples, .lost = (uint64_t)metrics->lost,
        .max_sites = LW_PAGE_SITES, .refresh = LW_PAGE_REFRESH,
    };
    char *page = workers ? lw_page_render(&in, &heap, len) : NULL;

    free(workers);
    return page;
}


/* /metrics: the exposition, rendered from the current view (view_lock held). */
static char *lw_master_prometheus(size_t *len)
{
    size_t nw;
    lw_report_worker_t *workers = lw_master_workers(&nw);
    lw_expo_input_t in = {workers, nw, agg, cfg->http_sites,
                          alert_kinds, sizeof(alert_kinds) / sizeof(alert_kinds[0]),
                          (uint64_t)metrics->samples, (uint64_t)metrics->lost};
    char *text = workers ? lw_expo_render(&in, &heap, len) : NULL;

    free(workers);
    return text;
}

int lw_analyst_render(lw_render_t what, lw_rendered_t *out)
{
    out->what = what;
    out->len = 0;
    pthread_mutex_lock(&view_lock);
    if (what == LW_RENDER_REPORT) {
        out->text = lw_master_render();
        out->len = out->text ? strlen(out->text) : 0;
    }
    else if (what == LW_RENDER_PAGE) {
        out->text = lw_master_page(&out->len);
    }
    else {
        out->text = lw_master_prometheus(&out->len);
    }
    pthread_mutex_unlock(&view_lock);
    return out->text ? 0 : -ENOMEM;
}

void lw_analyst_release(lw_rendered_t *doc)
{
    if (doc->what == LW_RENDER_REPORT)
        lw_report_free(doc->text); /* jansson's deallocator */
    else
        heap.free(doc->text);
    doc->text = NULL;
}

int lw_analyst_start(const lw_config_t *config, lw_shm_t *region, const lw_limit_t *lim,
                     lw_metrics_t *m)
{
    cfg = config;
    shm = region;
    limit = lim;
    metrics = m;
    oom_kills = lw_limits_oom_kills(); /* only kills from now on are ours to explain */
    rss_tracks = calloc(shm->nworkers + 1, sizeof(*rss_tracks));
    if (rss_tracks)
        lw_master_make_agg();
    if (!agg) {
        uwsgi_log("[leakwatch] master: out of memory for the aggregator; no leak detection\n");
        return -ENOMEM;
    }
    if (lw_thread_start(&analyst, lw_analyst) != 0) {
        uwsgi_log("[leakwatch] master: cannot start the analyst thread; no leak detection\n");
        lw_agg_free(agg);
        agg = NULL;
        return -EAGAIN;
    }
    return 0;
}

/*
 * analyst.c - the master's analyst thread (see analyst.h): drains the
 * rings, judges, watches RSS against the memory limit, raises alerts and
 * sets the metrics, every 20 ms, in its own thread so that neither the
 * master's loop (which may sleep a second between events) sets the pace of
 * detection nor detection lengthens the loop.
 *
 * This file gathers readings (the rings, the workers' slots, /proc, uWSGI's
 * worker table) and hands them to src/: the aggregator and detector judge
 * sites (agg.c), native.c native growth, oomwatch.c the OOM projection,
 * endcause.c why a worker ended, alerttext.c what an alert says,
 * alertlog.c what was said, slotstats.c what the metrics show; asker.c
 * asks the workers what holds a leak.
 */
#include <uwsgi.h>

#include "../src/agg.h"
#include "../src/alertlog.h"
#include "../src/alerttext.h"
#include "../src/endcause.h"
#include "../src/sitehist.h"
#include "../src/native.h"
#include "../src/oomwatch.h"
#include "../src/page.h"
#include "../src/slotstats.h"
#include "../src/tick.h"
#include "analyst.h"
#include "asker.h"
#include "children.h"
#include "engine.h"
#include "limits.h"
#include "threads.h"
#include "view.h"

#define LW_ANALYST_NS 20000000 /* the analyst looks every 20 ms when idle */
#define LW_ANALYST_BUSY_NS 2000000 /* and every 2 ms while records flow */
#define LW_METRICS_US 1000000  /* metrics, RSS and the OOM projection: once a second */
#define LW_DRAIN_BATCH 512
#define LW_DRAIN_MAX 65536     /* records per worker per cycle: the loop stays short */
#define LW_ALERTS_MAX 16       /* alerts judged per lock hold */
#define LW_MAX_SITES 65536     /* the master's site table */
#define LW_MAX_ENDPOINTS 4096  /* the master's endpoint names */
#define LW_DEPARTURES_MAX 16   /* worker ends taken per cycle */
#define LW_STATM_MAX 128
extern struct uwsgi_server uwsgi;

/* What the master knows of each worker generation, for the cause of its end. */
struct generation {
    lw_endcause_start_t start;   /* slot requests when this generation began */
    int64_t pid;                 /* the generation the analyst sees, every cycle */
    uint64_t rss_high;           /* its highest per-request RSS (uWSGI's rss_size) */
    int64_t ended_pid;           /* the generation before it, and its highest RSS */
    uint64_t ended_rss_high;
};

static const lw_alloc_t heap = {calloc, free};
/* Set by lw_analyst_start, before the thread; read-only after. */
static const lw_config_t *cfg;
static lw_shm_t *shm;
static const lw_procs_t *procs;
static const lw_limit_t *limit;
static lw_metrics_t *metrics;
static lw_agg_cfg_t agg_cfg;
static pthread_t analyst;
/*
 * Guards the view (everything below) between the analyst and the listener
 * threads. Held for a drain, a judgement or a render; never while saying
 * alerts (lw_master_say).
 */
static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;
static lw_agg_t *agg;
static lw_sitehist_t *hist;          /* the page's charts (--leakwatch-http only) */
static lw_alertlog_t *alerts;
static lw_oomwatch_t *oom;
static lw_slotstats_t *slots;
static lw_native_t *natives;     /* [nslots + 1] */
static struct generation *gens;  /* [nslots + 1] */
static uint64_t oom_kills;       /* the cgroup's oom_kill count already explained */
static lw_record_t drain_buf[LW_DRAIN_BATCH];
/* What the listeners render: pointers to the above, set once they exist. */
static lw_view_t view;

static void lw_master_raise(const char *kind, lw_strbuf_t *text);

/* Site `id` is evicted, its id about to name another site: the chart kept
 * under that id is the old site's (view_lock held: inside lw_agg_feed). */
static void lw_master_forget_chart(void *ctx, uint32_t id)
{
    (void)ctx;
    if (hist)
        lw_sitehist_forget(hist, id);
}

/* The page's charts: the live bytes of the sites it shows, when a frame is due. */
static void lw_master_record_history(void)
{
    uint32_t ids[LW_SITEHIST_SERIES];
    size_t n;

    if (!hist || !lw_sitehist_begin(hist, lw_mono_seconds()))
        return;
    n = lw_page_pick_sites(agg, ids, LW_SITEHIST_SERIES);
    for (size_t i = 0; i < n; i++)
        lw_sitehist_put(hist, ids[i], lw_agg_site(agg, ids[i])->live);
}

/* Reads what every worker published since the last cycle. Never waits.
 * Returns the number of records read. */
static uint64_t lw_master_drain(void)
{
    uint64_t all = 0;

    for (uint32_t wid = 1; wid <= shm->nslots; wid++) {
        lw_ring_t *ring = lw_shm_ring(shm, wid);
        /* read before the ring: what the round freed is in it (engine.c) */
        uint32_t collected = atomic_load_explicit(&lw_shm_worker(shm, wid)->collect_done,
                                                  memory_order_acquire);
        uint64_t n, total = 0;
        while (total < LW_DRAIN_MAX && (n = lw_ring_pop(ring, drain_buf, LW_DRAIN_BATCH)) > 0) {
            lw_agg_feed(agg, wid, drain_buf, n);
            total += n;
        }
        if (total < LW_DRAIN_MAX) /* else the rest of the round's frees may wait */
            lw_agg_collected(agg, wid, collected);
        all += total;
    }
    return all;
}

/* Asks the workers for the collection round a gated LEAK waits for. */
static void lw_master_ask_collections(void)
{
    static uint32_t asked;
    uint32_t round = lw_agg_collect_round(agg);

    if (round == asked)
        return;
    for (uint32_t wid = 1; wid <= shm->nslots; wid++)
        atomic_store_explicit(&lw_shm_worker(shm, wid)->collect_ask, round,
                              memory_order_release);
    asked = round;
}

/*
 * Every alert, LEAK, OOM, NATIVE or LAST WORDS, goes through here, in the
 * analyst with view_lock held: counted, kept for the report and the page,
 * and queued to be logged and raised as the alarm by lw_master_say once the
 * lock is released. An alert whose text ran out of memory is not lost: the
 * count says it happened.
 */
static void lw_master_raise(const char *kind, lw_strbuf_t *text)
{
    size_t len;
    char *s = lw_strbuf_finish(text, &len);

    if (!s) {
        static const char oom[] = "[leakwatch] (an alert: out of memory for its text)";
        lw_alertlog_raise(alerts, kind, oom, sizeof(oom) - 1, (int64_t)time(NULL));
        return;
    }
    lw_alertlog_raise(alerts, kind, s, len, (int64_t)time(NULL)); /* a failed queue: said below */
    heap.free(s);
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
    lw_outbox_t *outbox = lw_alertlog_outbox(alerts);
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

/*
 * Judges what changed and raises the alerts, LW_ALERTS_MAX at most: they
 * are said before the next batch is judged. Returns 1 when the batch was
 * full (more may be waiting), else 0.
 */
static int lw_master_judge(void)
{
    lw_alert_t found[LW_ALERTS_MAX];
    uint64_t requests = 0;
    uint32_t live = 0;
    size_t n;

    for (uint32_t wid = 1; wid <= shm->nslots; wid++) {
        lw_worker_view_t view;
        if (lw_shm_read(shm, wid, &view) < 0 || view.pid == 0)
            continue;
        requests += view.requests; /* cumulative over respawns: never goes back */
        live += wid <= procs->workers && view.pid == lw_children_pid(procs, wid);
    }
    lw_agg_look(agg, requests, uwsgi_micros());
    /* Warm-up: lazy initialisation in the first requests is not growth. */
    if (!lw_workclock_warm(lw_agg_clock(agg), requests, live, cfg->warmup))
        return 0;
    n = lw_agg_judge_now(agg, found, LW_ALERTS_MAX);
    for (size_t i = 0; i < n; i++) {
        lw_strbuf_t text;
        lw_strbuf_init(&text, &heap, 0);
        lw_alerttext_leak(&text, agg, found[i].site);
        lw_master_raise(LW_ALERT_LEAK, &text);
        lw_asker_ask(found[i].site);
    }
    return n == LW_ALERTS_MAX;
}

/* A worker's resident set, from /proc (bytes), or -1. */
static int64_t lw_rss_of(int64_t pid)
{
    char path[64], text[LW_STATM_MAX];
    long pages = 0, resident = 0;

    snprintf(path, sizeof(path), "/proc/%lld/statm", (long long)pid);
    if (lw_read_text(path, text, sizeof(text)) < 0 ||
        sscanf(text, "%ld %ld", &pages, &resident) != 2 || resident < 0)
        return -1;
    return (int64_t)resident * (int64_t)uwsgi.page_size;
}

/* A worker slot's requests over all its cores, cumulative over its life. */
static uint64_t lw_slot_requests(uint32_t wid)
{
    uint64_t requests = 0;

    for (uint32_t core = 0; core < shm->ncores; core++)
        requests += atomic_load_explicit(&lw_shm_core(shm, wid, core)->requests,
                                         memory_order_relaxed);
    return requests;
}

static void lw_master_oom(uint32_t wid, int64_t pid, const lw_oom_t *o)
{
    lw_alert_oom_t in = {wid, pid, o->rss, o->rate, o->eta, limit->bytes};
    lw_strbuf_t text;

    lw_strbuf_init(&text, &heap, 0);
    lw_alerttext_oom(&text, agg, &in);
    lw_master_raise(LW_ALERT_OOM, &text);
}

/* Native growth: RSS that the worker's Python sites do not explain
 * (native.h), each worker read when its look is due. Returns the soonest
 * next look, in uwsgi_micros() time. */
static uint64_t lw_master_native(void)
{
    lw_detect_cfg_t dcfg = agg_cfg.detect;
    uint64_t now = uwsgi_micros(), soonest = UINT64_MAX;

    for (uint32_t wid = 1; wid <= shm->nslots; wid++) {
        lw_worker_slot_t *slot = lw_shm_worker(shm, wid);
        int64_t pid = lw_children_pid(procs, wid), rss;
        /* a worker's series is judged against its requests; a mule's or a
         * spooler's, which serve none, against tenths of a second since its
         * spawn, its warm-up as many seconds as a worker's is requests */
        bool timed = wid > procs->workers;
        uint64_t spawned = atomic_load_explicit(&slot->spawned_us, memory_order_relaxed);
        uint64_t requests = !timed          ? lw_slot_requests(wid)
                            : now > spawned ? (now - spawned) / LW_WORKCLOCK_TICK_US
                                            : 0;
        uint64_t warmup = timed ? cfg->warmup * (1000000 / LW_WORKCLOCK_TICK_US) : cfg->warmup;
        if (pid <= 0 || !lw_native_due(&natives[wid], now, pid, requests, warmup) ||
            (rss = lw_rss_of(pid)) < 0)
            goto next;
        lw_native_reading_t r = {
            .pid = pid,
            .requests = requests,
            .rss = rss,
            .tracked = atomic_load_explicit(&slot->tracked, memory_order_relaxed),
            .now_us = now,
            .malloc_free = atomic_load_explicit(&slot->malloc_free, memory_order_relaxed),
        };
        lw_native_verdict_t v = lw_native_look(&natives[wid], &dcfg, &r);
        if (v.leak) {
            lw_alert_native_t in = {wid, pid, r.tracked, v, timed, r.malloc_free};
            lw_strbuf_t text;
            lw_strbuf_init(&text, &heap, 0);
            lw_alerttext_native(&text, agg, &in);
            lw_master_raise(LW_ALERT_NATIVE, &text);
        }
    next: /* a look not taken (no pid, no /proc entry) waits for the next cycle */
        if (lw_native_next_us(&natives[wid]) > now && lw_native_next_us(&natives[wid]) < soonest)
            soonest = lw_native_next_us(&natives[wid]);
    }
    return soonest;
}

/* Once a second: each worker's RSS and how far the limit is. */
static void lw_master_project(void)
{
    lw_oom_t o;

    lw_oomwatch_begin(oom, (double)uwsgi_micros() / 1e6);
    for (uint32_t wid = 1; wid <= shm->nslots; wid++) {
        int64_t pid = lw_children_pid(procs, wid), rss;
        if (pid <= 0 || (rss = lw_rss_of(pid)) < 0)
            continue;
        o = lw_oomwatch_look(oom, wid, pid, (uint64_t)rss);
        if (o.warn)
            lw_master_oom(wid, pid, &o);
    }
    o = lw_oomwatch_end(oom);
    if (o.warn)
        lw_master_oom(0, (int64_t)getpid(), &o);
    for (uint32_t wid = 1; wid <= shm->nslots; wid++)
        metrics->worker[wid].oom_eta = (int64_t)lw_oomwatch_eta(oom, wid);
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
    for (uint32_t wid = 1; wid <= shm->nslots; wid++) {
        struct generation *g = &gens[wid];
        int64_t pid = lw_children_pid(procs, wid);
        if (pid != g->pid) {
            if (g->pid > 0) {
                g->ended_pid = g->pid;
                g->ended_rss_high = g->rss_high;
            }
            g->pid = pid;
            g->rss_high = 0; /* the slot may still show the last generation's */
            continue;
        }
        if (wid <= procs->workers && uwsgi.workers[wid].rss_size > g->rss_high)
            g->rss_high = uwsgi.workers[wid].rss_size; /* uWSGI reads workers' only */
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
    struct generation *g = &gens[d->wid];
    lw_worker_view_t view;
    int rc = lw_shm_read(shm, d->wid, &view);
    bool worker = d->wid <= procs->workers; /* uWSGI recycles workers only */
    lw_endcause_readings_t in = {
        .oom_kills_seen = oom_kills,
        .oom_kills = lw_limits_oom_kills(),
        .rss_high = g->ended_pid == d->pid ? g->ended_rss_high : 0,
        .reload_on_rss = worker ? uwsgi.reload_on_rss : 0,
        .evil_reload_on_rss = worker ? uwsgi.evil_reload_on_rss : 0,
        .max_requests = worker ? uwsgi.max_requests : 0,
    };

    /* the /proc series counts only while it is still this generation's */
    lw_oomwatch_last(oom, d->wid, d->pid, &in.rss_last, &in.rss_rate);
    in.served_known = lw_endcause_served(&g->start, rc, rc == 0 ? view.requests : 0, &in.served);
    if (in.oom_kills > oom_kills)
        oom_kills = in.oom_kills;
    return lw_endcause_judge(&in);
}

/* The last words of workers that ended holding suspects or an OOM warning. */
static void lw_master_last_words(void)
{
    lw_departure_t deps[LW_DEPARTURES_MAX];
    size_t n = lw_agg_departures(agg, deps, LW_DEPARTURES_MAX);

    for (size_t i = 0; i < n; i++) {
        lw_endcause_t cause = lw_end_cause(&deps[i]);
        bool warned = lw_oomwatch_warned(oom, deps[i].wid, deps[i].pid);
        lw_strbuf_t text;
        lw_strbuf_init(&text, &heap, 0);
        if (lw_alerttext_last_words(&text, agg, &deps[i], cause, warned))
            lw_master_raise(LW_ALERT_LAST_WORDS, &text);
        else
            heap.free(lw_strbuf_finish(&text, &(size_t){0})); /* a normal recycle: silent */
    }
}

/* Once a second, in the analyst: what the metrics show. */
static void lw_master_update_metrics(void)
{
    lw_slot_totals_t totals;
    lw_agg_stats_t ast;

    for (uint32_t wid = 1; wid <= shm->nslots; wid++) {
        lw_worker_slot_t *slot = lw_shm_worker(shm, wid);
        lw_slot_reading_t r = {
            .spawns = atomic_load_explicit(&slot->spawns, memory_order_relaxed),
            .tracked = atomic_load_explicit(&slot->tracked, memory_order_relaxed),
            .samples = atomic_load_explicit(&slot->samples, memory_order_relaxed),
            .lost = atomic_load_explicit(&slot->lost, memory_order_relaxed),
        };
        lw_slot_view_t v;
        lw_slotstats_update(slots, wid, &r);
        lw_slotstats_slot(slots, wid, &v);
        metrics->worker[wid].tracked_bytes = v.tracked;
        metrics->worker[wid].growth_rate = v.growth_rate;
        metrics->worker[wid].malloc_free_bytes =
            atomic_load_explicit(&slot->malloc_free, memory_order_relaxed);
    }
    lw_slotstats_totals(slots, &totals);
    lw_agg_stats(agg, &ast);
    metrics->tracked_bytes = totals.tracked;
    metrics->samples = (int64_t)totals.samples;
    metrics->lost = (int64_t)(totals.lost + ast.overflowed + ast.malformed);
    metrics->suspects = (int64_t)lw_agg_suspects(agg);
    lw_master_project();
    metrics->alerts = (int64_t)lw_alertlog_total(alerts);
}

/* Sleeps `most`, or until `due` (uwsgi_micros() time) if that is sooner. */
static void lw_analyst_sleep(const struct timespec *most, uint64_t due)
{
    uint64_t now = uwsgi_micros();
    uint64_t most_us = (uint64_t)most->tv_sec * 1000000 + (uint64_t)most->tv_nsec / 1000;
    struct timespec t = *most;

    if (due < now + most_us)
        t = (struct timespec){0, due > now ? (long)(due - now) * 1000 : 0};
    nanosleep(&t, NULL);
}

static void *lw_analyst(void *arg)
{
    struct timespec idle = {0, LW_ANALYST_NS}, busy = {0, LW_ANALYST_BUSY_NS};
    lw_tick_t metrics_tick;
    sigset_t all;

    (void)arg;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the master loop's */
    lw_tick_init(&metrics_tick, LW_METRICS_US);
    for (;;) {
        pthread_mutex_lock(&view_lock);
        lw_master_watch_generations();
        uint64_t read = lw_master_drain();
        lw_master_last_words(); /* before judging: the dead worker's view is gone already */
        int more = lw_master_judge();
        lw_master_ask_collections();
        lw_asker_post();
        lw_master_record_history();
        if (lw_tick_due(&metrics_tick, uwsgi_micros()))
            lw_master_update_metrics();
        uint64_t native_due = lw_master_native();
        pthread_mutex_unlock(&view_lock);
        lw_master_say(); /* unlocked: a slow log holds up this thread only */
        /* while deltas flow, look often: each look is a point of the series;
         * a full batch of alerts: judge the rest at once; a worker whose
         * RSS grows fast is read when due (native.h) */
        if (!more)
            lw_analyst_sleep(read ? &busy : &idle, native_due);
    }
    return NULL;
}

int lw_analyst_render(lw_render_t what, lw_rendered_t *out)
{
    int rc;

    pthread_mutex_lock(&view_lock);
    rc = lw_view_render(&view, what, out);
    pthread_mutex_unlock(&view_lock);
    return rc;
}

void lw_analyst_release(lw_rendered_t *doc)
{
    lw_view_release(doc);
}

/* The view: everything the analyst keeps. 0, or -ENOMEM (all released). */
static int lw_master_make_view(void)
{
    lw_oomwatch_cfg_t ocfg = {limit->bytes, limit->shared, cfg->oom_horizon};

    agg_cfg = (lw_agg_cfg_t){
        .procs = *procs,
        .max_sites = LW_MAX_SITES,
        .local_sites = LW_ENGINE_SITES,
        .local_endpoints = LW_ENGINE_ENDPOINTS,
        .max_endpoints = LW_MAX_ENDPOINTS,
        .detect = {(int64_t)cfg->threshold, LW_DETECT_CONFIRM,
                   (int64_t)lw_config_sample_interval(cfg)},
        .evicted = lw_master_forget_chart,
        .held = lw_asker_answer,
        .ignore = cfg->ignore,
        .nignore = cfg->nignore,
        .gate = cfg->gc != LW_GC_OFF, /* off: leakwatch never collects */
    };
    agg = lw_agg_new(&agg_cfg, &heap);
    alerts = lw_alertlog_new(&heap);
    oom = lw_oomwatch_new(&heap, shm->nslots, &ocfg);
    slots = lw_slotstats_new(&heap, shm->nslots);
    natives = calloc(shm->nslots + 1, sizeof(*natives));
    gens = calloc(shm->nslots + 1, sizeof(*gens));
    if (!agg || !alerts || !oom || !slots || !natives || !gens) {
        lw_agg_free(agg);
        lw_alertlog_free(alerts);
        lw_oomwatch_free(oom);
        lw_slotstats_free(slots);
        free(natives);
        free(gens);
        agg = NULL;
        return -ENOMEM;
    }
    if (cfg->http && !(hist = lw_sitehist_new(&heap, 1)))
        uwsgi_log("[leakwatch] master: out of memory for the history; the page has no charts\n");
    view = (lw_view_t){cfg, shm, limit, metrics, agg, hist, alerts, oom};
    lw_asker_init(cfg, shm, agg, lw_master_raise);
    return 0;
}

int lw_analyst_start(const lw_config_t *config, lw_shm_t *region, const lw_procs_t *children,
                     const lw_limit_t *lim, lw_metrics_t *m)
{
    cfg = config;
    shm = region;
    procs = children;
    limit = lim;
    metrics = m;
    oom_kills = lw_limits_oom_kills(); /* only kills from now on are ours to explain */
    if (lw_master_make_view() < 0) {
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

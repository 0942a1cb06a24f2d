/*
 * plugin.c - leakwatch as uWSGI sees it: the plugin descriptor, its
 * options, and the lifecycle, as uWSGI 2.0 runs it:
 *
 *   on_load      (master, at dlopen)      defaults
 *   options      (master, while parsing)  lw_config_set(); bad value: exit(1)
 *   init         (master, before fork)    check the options and the Python
 *                                         (pyversion.h), shared memory (src/shm.c), the
 *                                         after-request hook, fork handlers
 *                                         (threads.h), metrics (metrics.h), the
 *                                         memory limit (limits.h), listeners (listen.h)
 *   fork child   (every child of the master) close what the master's threads held
 *   post_fork    (each worker, each spawn) claim the worker's slot, start the
 *                                         engine (engine.h)
 *   as-mule hook, spooler_init (each mule, each spooler, each spawn) the same
 *                                         for them (children.h)
 *   after-request (worker, every request, concurrently under --threads)
 *   master_cycle (master, every loop turn) start the analyst (analyst.h) and
 *                                         the listeners once; the STATUS line
 *
 * This file only translates: what is a leak, an OOM warning, why a worker
 * ended, is src/'s, reached through the analyst and the engine.
 */
#include "pyversion.h" /* <Python.h>, every symbol weak */
#include <uwsgi.h>

#include "../src/config.h"
#include "../src/shm.h"
#include "../src/size.h"
#include "../src/tick.h"
#include "analyst.h"
#include "children.h"
#include "engine.h"
#include "limits.h"
#include "listen.h"
#include "metrics.h"
#include "threads.h"

#define LW_EXPORT __attribute__((visibility("default")))
#define LW_HOOK_NAME "leakwatch_after_request"
#define LW_MULE_HOOK "call:leakwatch_as_mule"
#define LW_CYCLE_US 250000 /* master bookkeeping at most 4 times a second */
#define LW_RING_RECORDS 8192 /* per worker: 256 KiB */
#define LW_SITES_LOGGED 3   /* sites per SITES block (--leakwatch-summary) */

extern struct uwsgi_server uwsgi;
LW_EXPORT extern struct uwsgi_plugin leakwatch_plugin;
LW_EXPORT void leakwatch_after_request(struct wsgi_request *wsgi_req);
LW_EXPORT void leakwatch_as_mule(void);

/* What the master last saw of a worker slot. Master-only, written in cycle. */
struct seen {
    lw_worker_view_t view;
    int valid;
};

/* Written by option callbacks and init in the master before fork; read-only after. */
static lw_config_t cfg;
/* Set in init before fork; the mapping is shared, the pointer copied. */
static lw_shm_t *shm;
static lw_procs_t procs; /* the run's workers, mules and spoolers */
/* Set in init (master); the analyst writes the values. */
static lw_metrics_t *metrics;
static const lw_limit_t *limit;
/* This process's slot (a worker's is its id), set when it starts tracking;
 * 0 in the master and in a child the app forks (lw_forked_by_the_app). */
static uint32_t my_slot;
/* Child-only: the allocator hooks are installed and this process publishes. */
static int engine_on;
/* Master-only state, written by master_cycle. */
static struct seen *seen;
static lw_tick_t cycle_tick, summary_tick;
static int summary_dirty;
/* Worker-only: when this worker logs its sites (--leakwatch-summary). */
static lw_tick_t sites_tick;

static void lw_on_load(void)
{
    lw_config_init(&cfg);
}

static void lw_opt_set(char *opt, char *value, void *data)
{
    char err[512];

    (void)data;
    if (lw_config_set(&cfg, opt, value, err, sizeof(err)) < 0) {
        uwsgi_log("[leakwatch] %s\n", err);
        exit(1);
    }
}

#define LW_OPT(name, help) \
    {name, required_argument, 0, help, lw_opt_set, NULL, UWSGI_OPT_MASTER}

static struct uwsgi_option lw_options[] = {
    LW_OPT("leakwatch-threshold",
           "report a Python allocation site once its sustained growth passes SIZE "
           "(e.g. 512k, 2MB, 1G; default 2MB)"),
    LW_OPT("leakwatch-sample-rate",
           "mean bytes between sampled allocations: SIZE, auto (threshold/256) or "
           "exact (every allocation; slow, for debugging) (default auto)"),
    LW_OPT("leakwatch-frames", "Python frames kept per site traceback, 1-128 (default 16)"),
    LW_OPT("leakwatch-gc",
           "when leakwatch runs gc.collect(): auto (whenever tracked memory grew by half "
           "the threshold), request (after every request), N (every N requests) or off "
           "(default auto)"),
    LW_OPT("leakwatch-warmup",
           "requests per worker served before growth is judged (default 20)"),
    LW_OPT("leakwatch-memory-limit",
           "per-worker memory limit for OOM projection: SIZE, auto (reload-on-rss, "
           "cgroup) or off (default auto)"),
    LW_OPT("leakwatch-report",
           "serve the JSON report on ADDR (HOST:PORT, :PORT for loopback, or a unix "
           "socket path; default off)"),
    LW_OPT("leakwatch-http",
           "serve a page (/), /metrics (Prometheus) and /report.json over HTTP on ADDR (HOST:PORT, "
           ":PORT for loopback, or a unix socket path; default off)"),
    LW_OPT("leakwatch-http-sites",
           "site series on /metrics at most, the largest by live bytes, 1-1000 (default 50)"),
    LW_OPT("leakwatch-alarm",
           "uWSGI alarm raised on every alert, define it with --alarm "
           "(default leakwatch)"),
    LW_OPT("leakwatch-ignore",
           "ignore allocation sites whose file matches PATTERN (fnmatch; repeatable)"),
    LW_OPT("leakwatch-oom-horizon",
           "warn (OOM line) when a worker is projected to reach its memory limit within "
           "N seconds (default 1800)"),
    LW_OPT("leakwatch-hold-budget",
           "after a LEAK, the worker holding most of it spends at most this walking its "
           "referrers to say what holds it: a time (50ms, 1s) or off (default 50ms)"),
    LW_OPT("leakwatch-summary",
           "log a status line every N seconds while requests flow (default 0, off)"),
    {0},
};

static uint32_t lw_count_cores(void)
{
    return uwsgi.cores > 0 ? (uint32_t)uwsgi.cores : 1;
}

static int lw_init(void)
{
    char err[512], desc[512], total[32];
    uint32_t nslots, ncores = lw_count_cores();
    size_t size;

    if (lw_config_check(&cfg, err, sizeof(err)) < 0) {
        uwsgi_log("[leakwatch] %s\n", err);
        exit(1);
    }
    lw_children_count(&procs);
    nslots = lw_procs_count(&procs);
    size = lw_shm_size(nslots, ncores, LW_RING_RECORDS);
    if (lw_py_refusal(err, sizeof(err))) { /* nothing set up: every hook below is off */
        uwsgi_log("[leakwatch] off, uWSGI serves without it: %s\n", err);
        return 0;
    }
    if (size == 0) {
        uwsgi_log("[leakwatch] %u processes (workers, mules, spoolers) x %u cores is beyond "
                  "leakwatch's limits (%u processes, %u cores)\n", nslots, ncores,
                  LW_SHM_MAX_WORKERS, LW_SHM_MAX_CORES);
        exit(1);
    }
    shm = uwsgi_calloc_shared(size);
    if (lw_shm_init(shm, size, nslots, ncores, LW_RING_RECORDS) < 0) {
        uwsgi_log("[leakwatch] cannot lay out shared memory\n");
        exit(1);
    }
    seen = uwsgi_calloc(sizeof(struct seen) * (nslots + 1));
    lw_tick_init(&cycle_tick, LW_CYCLE_US);
    lw_tick_init(&summary_tick, (uint64_t)cfg.summary_secs * 1000000);
    uwsgi_string_new_list(&uwsgi.after_request_hooks, LW_HOOK_NAME);
    if (procs.mules) /* mules call no hook of a plugin that serves no requests; uWSGI
                      * writes into a hook's text while running it: a copy */
        uwsgi_string_new_list(&uwsgi.hook_as_mule, uwsgi_str(LW_MULE_HOOK));
    if (lw_threads_init() != 0)
        uwsgi_log("[leakwatch]   cannot register fork handlers: a worker respawned while the "
                  "master reads /proc or serves a client may keep that descriptor\n");
    metrics = lw_metrics_register(&procs);

    uwsgi_log("[leakwatch] enabled: %s\n", lw_config_describe(&cfg, desc, sizeof(desc)));
    uwsgi_log("[leakwatch]   %u workers x %u cores, %u mules, %u spoolers, %s shared memory\n",
              procs.workers, ncores, procs.mules, procs.spoolers,
              lw_size_format(size, total, sizeof(total)));
    if (!uwsgi.master_process)
        uwsgi_log("[leakwatch]   no master process: requests are counted but nothing "
                  "is analysed; add --master\n");
    limit = lw_limits_detect(&cfg);
    lw_listen_open(&cfg);
    return 0;
}

/*
 * A child that the app forks in a worker (os.fork()) and that returns into
 * uWSGI's request loop serves requests as that worker: it must not become
 * a second writer on the worker's single-writer ring and counters. Runs in
 * the child of every fork() a worker makes; subprocesses exec at once.
 */
static uint32_t forked_from_wid; /* in such a child: the worker it was forked from */

static void lw_forked_by_the_app(void)
{
    if (my_slot && my_slot <= procs.workers)
        forked_from_wid = my_slot;
    my_slot = 0;
    engine_on = 0;
    lw_engine_stop_publishing(); /* its hooks, still on, publish between requests */
}

/* Said once, by the child, at its first request. */
static void lw_say_forked(void)
{
    uwsgi_log("[leakwatch] pid %d, a child the app forked in worker %u, serves requests "
              "as that worker; it publishes nothing (worker %u's own process still does)\n",
              (int)getpid(), forked_from_wid, forked_from_wid);
    forked_from_wid = 0;
}

/*
 * A worker, mule or spooler (re)spawned: claims its slot and, when the
 * python plugin runs, starts the engine. `between` names what its
 * allocations outside requests are published under.
 */
static void lw_track(uint32_t slot, const char *between)
{
    PyGILState_STATE gil;
    char who[32];

    lw_listen_close(); /* the master's */
    if (!shm || !slot || lw_shm_claim(shm, slot, (int32_t)getpid(), uwsgi_micros()) < 0)
        return;
    my_slot = slot;
    /* registered in the child only, once per process: the master's forks
     * are its own business */
    pthread_atfork(NULL, NULL, lw_forked_by_the_app);
    lw_worker_view_t view;
    if (lw_shm_read(shm, my_slot, &view) < 0)
        view.spawns = 0;
    lw_tick_init(&sites_tick, (uint64_t)cfg.summary_secs * 1000000);
    sites_tick.next_us = uwsgi_micros() + sites_tick.interval_us;
    if (!Py_IsInitialized()) /* no python plugin: nothing to track */
        return;
    gil = PyGILState_Ensure();
    engine_on = lw_engine_start(&cfg, (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ uwsgi_micros(),
                                lw_procs_name(&procs, slot, who, sizeof(who)), between) == 0;
    if (engine_on)
        lw_engine_publish_to(lw_shm_ring(shm, my_slot), lw_shm_worker(shm, my_slot), getpid(),
                             view.spawns, uwsgi_micros());
    PyGILState_Release(gil);
}

static void lw_post_fork(void)
{
    if (uwsgi.mywid > 0) /* uWSGI calls it in workers only; a mule or spooler starts below */
        lw_track(lw_children_me(&procs), "<no request>");
}

/* In each mule, each spawn (uWSGI's as-mule hooks, after the python plugin's post_fork). */
void leakwatch_as_mule(void)
{
    lw_track(lw_children_me(&procs), "<mule>");
}

/* In each spooler, each spawn (after the python plugin's spooler_init). */
static void lw_spooler_init(void)
{
    lw_track(lw_children_me(&procs), "<spooler>");
}

/*
 * A worker, mule or spooler exiting (uWSGI's exit path runs the plugins'
 * atexit: the generic plugins', this one's, before the request plugins',
 * so before the python plugin's Py_Finalize()). What the teardown frees is
 * the process ending, not the app releasing memory: published between
 * requests, it read as a release, cleared the generation's share before its
 * LAST WORDS could name what it held, and moved a leak's base to its peak.
 * Nothing more is published; the master drops the share when the next
 * generation says HELLO (src/agg.c: a departure, not a fall).
 */
static void lw_atexit(void)
{
    lw_engine_stop_publishing();
}

void leakwatch_after_request(struct wsgi_request *wsgi_req)
{
    lw_core_slot_t *core;

    if (!my_slot || wsgi_req->async_id < 0) {
        if (forked_from_wid)
            lw_say_forked();
        return;
    }
    core = lw_shm_core(shm, my_slot, (uint32_t)wsgi_req->async_id);
    if (core)
        lw_core_count_hooksafe(core);
    if (engine_on) {
        PyGILState_STATE gil = PyGILState_Ensure();
        lw_engine_after_request(wsgi_req->path_info, wsgi_req->path_info_len);
        if (cfg.summary_secs && lw_tick_due(&sites_tick, uwsgi_micros()))
            lw_engine_log_sites(my_slot, LW_SITES_LOGGED);
        PyGILState_Release(gil);
    }
}

/* Reads every slot whose owner uWSGI agrees on; notes what changed. */
static void lw_master_observe(void)
{
    for (uint32_t slot = 1; slot <= shm->nslots; slot++) {
        lw_worker_view_t view;

        if (lw_shm_read(shm, slot, &view) < 0)
            continue;
        /* A slot whose pid uWSGI does not know yet is not (yet) its process. */
        if (view.pid == 0 || view.pid != lw_children_pid(&procs, slot))
            continue;
        if (seen[slot].valid && !memcmp(&seen[slot].view, &view, sizeof(view)))
            continue;
        seen[slot].view = view;
        seen[slot].valid = 1;
        summary_dirty = 1;
    }
}

static void lw_master_summary(void)
{
    uint64_t requests = 0, respawns = 0;
    uint32_t live = 0;

    for (uint32_t wid = 1; wid <= procs.workers; wid++) {
        if (!seen[wid].valid)
            continue;
        live++;
        requests += seen[wid].view.requests;
        respawns += seen[wid].view.spawns - 1;
    }
    uwsgi_log("[leakwatch] STATUS %u workers, %llu requests, %llu respawns\n", live,
              (unsigned long long)requests, (unsigned long long)respawns);
    for (uint32_t slot = 1; slot <= shm->nslots; slot++) {
        char who[32];
        if (seen[slot].valid)
            uwsgi_log("[leakwatch]   %s pid %d: %llu requests, spawn %llu\n",
                      lw_procs_name(&procs, slot, who, sizeof(who)), (int)seen[slot].view.pid,
                      (unsigned long long)seen[slot].view.requests,
                      (unsigned long long)seen[slot].view.spawns);
    }
    summary_dirty = 0;
}

static void lw_master_cycle(void)
{
    static int started;
    uint64_t now;

    if (!shm)
        return;
    if (!started) {
        started = 1;
        if (lw_analyst_start(&cfg, shm, &procs, limit, metrics) == 0)
            lw_listen_start();
    }
    now = uwsgi_micros();
    if (!lw_tick_due(&cycle_tick, now))
        return;
    lw_master_observe();
    if (cfg.summary_secs && summary_dirty && lw_tick_due(&summary_tick, now))
        lw_master_summary();
}

struct uwsgi_plugin leakwatch_plugin = {
    .name = "leakwatch",
    .on_load = lw_on_load,
    .options = lw_options,
    .init = lw_init,
    .post_fork = lw_post_fork,
    .atexit = lw_atexit,
    .spooler_init = lw_spooler_init,
    .master_cycle = lw_master_cycle,
};

/*
 * leakwatch.c - the uWSGI side of leakwatch: options, hooks, shared memory.
 *
 * This file only translates. uWSGI options go to the core's config, the
 * region the workers publish into is laid out by src/shm.c, the master's
 * pacing comes from src/tick.c. Lifecycle, as uWSGI 2.0 runs it:
 *
 *   on_load      (master, at dlopen)      defaults
 *   options      (master, while parsing)  lw_config_set(); bad value: exit(1)
 *   init         (master, before fork)    check, shared memory, after-request hook,
 *                                         fork handlers, the memory limit
 *   fork child   (every child of the master) close what the master's threads held
 *   post_fork    (each worker, each spawn) claim the worker's slot
 *   after-request (worker, every request, concurrently under --threads)
 *   master_cycle (master, every loop turn) rate-limited bookkeeping
 */
#include <Python.h>
#include <uwsgi.h>

#include "../src/agg.h"
#include "../src/config.h"
#include "../src/endcause.h"
#include "../src/expo.h"
#include "../src/hist.h"
#include "../src/http.h"
#include "../src/memlimit.h"
#include "../src/outbox.h"
#include "../src/page.h"
#include "../src/report.h"
#include "../src/shm.h"
#include "../src/size.h"
#include "../src/tick.h"
#include "engine.h"

#define LW_EXPORT __attribute__((visibility("default")))
#define LW_HOOK_NAME "leakwatch_after_request"
#define LW_CYCLE_US 250000 /* master bookkeeping at most 4 times a second */
#define LW_ANALYST_NS 20000000 /* the analyst looks every 20 ms when idle */
#define LW_ANALYST_BUSY_NS 2000000 /* and every 2 ms while records flow */
#define LW_RING_RECORDS 8192 /* per worker: 256 KiB */
#define LW_DRAIN_BATCH 512
#define LW_HTTP_HEAD_MAX 8192 /* bytes of request head read, at most */
#define LW_PAGE_SITES 12      /* site cards on the page (/ on --leakwatch-http) */
#define LW_PAGE_REFRESH 5     /* seconds between the page's reloads */
#define LW_DRAIN_MAX 65536   /* records per worker per cycle: the loop stays short */
#define LW_ALERTS_MAX 16
#define LW_MAX_SITES 65536

extern struct uwsgi_server uwsgi;
LW_EXPORT extern struct uwsgi_plugin leakwatch_plugin;
LW_EXPORT void leakwatch_after_request(struct wsgi_request *wsgi_req);

/* What the master last saw of a worker slot. Master-only, written in cycle. */
struct seen {
    lw_worker_view_t view;
    int valid;
};

/* Written by option callbacks and init in the master before fork; read-only after. */
static lw_config_t cfg;
/* Set in init before fork; the mapping is shared, the pointer copied. */
static lw_shm_t *shm;
/* This worker's slot, set in post_fork; 0 in the master and in a child the
 * app forks (lw_forked_by_the_app). */
static uint32_t my_wid;
/*
 * Metric values, read by uWSGI's metrics thread in the master ("ptr"
 * collector), written by the analyst thread once a second. Aligned int64:
 * a read is never torn.
 */
static int64_t m_alerts, m_suspects, m_tracked, m_samples, m_lost;
static int64_t *m_worker; /* [3 * (nworkers + 1)]: tracked, growth_rate, oom_eta */

/* Worker-only: the allocator hooks are installed and this process publishes. */
static int engine_on;
/* Master-only state, written by master_cycle. */
static struct seen *seen;
/* Owned by the analyst thread once it runs; created before it starts. */
static lw_agg_t *agg;
/* The page's charts (--leakwatch-http only): the analyst writes, the HTTP
 * thread reads, both under view_lock. */
static lw_hist_t *hist;
static lw_record_t drain_buf[LW_DRAIN_BATCH];
/* Alerts by kind; leakwatch.alerts is their sum. Analyst thread, under view_lock. */
static lw_expo_kind_t alert_kinds[] = {
    {"LEAK", 0}, {"NATIVE", 0}, {"OOM", 0}, {"LAST WORDS", 0}};
static pthread_t analyst, reporter, http_server;
/* Guards agg, the alert history and the metric values between the analyst
 * and the reporter thread. Held for a drain, a judgement or a render. */
static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;
/* The report's listening socket, bound in init (master); -1 when off. */
static int report_fd = -1;
static int http_fd = -1;      /* --leakwatch-http: the master's listener, its thread only */

/* The memory limit workers meet, decided in init (master). */
static uint64_t mem_limit;       /* bytes, 0 = none known */
static int mem_limit_shared;     /* a cgroup limit: all workers together */
#define LW_RSS_POINTS 30         /* seconds of RSS history per worker */
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
} *rss_tracks;                   /* [nworkers + 1], analyst thread only */
static uint64_t oom_kills;       /* the cgroup's oom_kill count at the last look */
/* The master's memory cgroup (its workers'), found in init; read-only after. */
static lw_cgroup_t cgroup;
static int cgroup_found;
/* Alerts raised under view_lock, said after it (lw_master_raise, lw_master_say).
 * Created with agg; the analyst thread's only. */
static lw_outbox_t *outbox;

#define LW_ALERT_HISTORY 64
static struct {
    int64_t time;
    const char *kind;
    char text[512];
} history[LW_ALERT_HISTORY];
static uint64_t history_len;
static lw_tick_t cycle_tick, summary_tick;
/* Worker-only: when this worker logs its sites (--leakwatch-summary). */
static lw_tick_t sites_tick;
static int summary_dirty;

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
           "mean bytes between sampled allocations: SIZE, auto (threshold/64) or "
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
    LW_OPT("leakwatch-summary",
           "log a status line every N seconds while requests flow (default 0, off)"),
    {0},
};

static uint32_t lw_count_cores(void)
{
    return uwsgi.cores > 0 ? (uint32_t)uwsgi.cores : 1;
}

static uint32_t lw_count_workers(void)
{
    return uwsgi.numproc > 0 ? (uint32_t)uwsgi.numproc : 1;
}

/*
 * uWSGI cannot add metrics once it has set them up, so the whole fixed set
 * is registered here, in init; leakwatch turns the metrics subsystem on
 * itself, no extra option needed. Units: bytes, bytes per minute, seconds.
 */
static void lw_register_metrics(uint32_t nworkers)
{
    static const char *const per_worker[] = {"tracked_bytes", "growth_rate", "oom_eta"};
    char name[128];

    uwsgi.has_metrics = 1;
    m_worker = uwsgi_calloc(sizeof(int64_t) * 3 * (nworkers + 1));
    uwsgi_register_metric("leakwatch.alerts", NULL, UWSGI_METRIC_COUNTER, "ptr", &m_alerts, 0, NULL);
    uwsgi_register_metric("leakwatch.suspects", NULL, UWSGI_METRIC_GAUGE, "ptr", &m_suspects, 0, NULL);
    uwsgi_register_metric("leakwatch.tracked_bytes", NULL, UWSGI_METRIC_GAUGE, "ptr", &m_tracked, 0,
                          NULL);
    uwsgi_register_metric("leakwatch.samples", NULL, UWSGI_METRIC_COUNTER, "ptr", &m_samples, 0, NULL);
    uwsgi_register_metric("leakwatch.lost", NULL, UWSGI_METRIC_COUNTER, "ptr", &m_lost, 0, NULL);
    for (uint32_t w = 1; w <= nworkers; w++) {
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof(name), "leakwatch.worker.%u.%s", w, per_worker[k]);
            uwsgi_register_metric(name, NULL, UWSGI_METRIC_GAUGE, "ptr",
                                  &m_worker[3 * w + (uint32_t)k], 0, NULL);
        }
    }
}

/*
 * Descriptors the master's threads hold for a moment while uWSGI may fork
 * a worker (from its main thread, whenever one must be respawned): a fork
 * copies whatever is open then into the new worker, where nothing would
 * ever close it. A client connection left open there outlived the master's
 * close() (`nc ... | python3 -m json.tool` hung until that worker exited),
 * and the analyst's /proc reads leaked a descriptor per unlucky respawn.
 *
 * So each thread records the descriptor it holds, in its slot, and a fork
 * child closes what is recorded (lw_atfork_child). held_lock makes a record
 * and its descriptor agree at the moment of a fork: a record is made after
 * its open and cleared before its close, both under the lock, and uWSGI's
 * fork waits for the lock (lw_atfork_prepare). A fork between accept() and
 * the record still leaks that one connection into the child; its client
 * gets its end anyway, because a connection is shut down before it is
 * closed (lw_serve).
 */
enum { LW_HELD_ANALYST, LW_HELD_REPORT, LW_HELD_HTTP, LW_HELD_SLOTS };
static int held[LW_HELD_SLOTS] = {-1, -1, -1}; /* under held_lock */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

/* Forgets the descriptor of slot and closes it (after shutting it down, a socket). */
static void lw_release(int slot, int is_socket)
{
    int fd;

    pthread_mutex_lock(&held_lock);
    fd = held[slot];
    held[slot] = -1;
    if (fd >= 0 && is_socket)
        shutdown(fd, SHUT_RDWR); /* ends it for the client even where a fork copied it */
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&held_lock);
}

static void lw_atfork_prepare(void)
{
    pthread_mutex_lock(&held_lock);
}

static void lw_atfork_parent(void)
{
    pthread_mutex_unlock(&held_lock);
}

/* In every child of the master (workers; commands an alarm runs): the
 * descriptors its threads held are not the child's to keep. Done here, the
 * first thing after the fork, rather than in post_fork: uWSGI closes and
 * opens descriptors in between, so a number recorded could by then name
 * another file. */
static void lw_atfork_child(void)
{
    for (int slot = 0; slot < LW_HELD_SLOTS; slot++) {
        if (held[slot] >= 0)
            close(held[slot]);
        held[slot] = -1;
    }
    pthread_mutex_unlock(&held_lock);
}

/*
 * Reads a small file whole into buf (NUL-terminated; a longer file is cut),
 * holding its descriptor in the analyst's slot (init, which also calls it,
 * runs before any thread). Returns the bytes read, or -1.
 */
static ssize_t lw_read_text(const char *path, char *buf, size_t len)
{
    size_t have = 0;
    ssize_t n = 0;
    int fd;

    pthread_mutex_lock(&held_lock); /* no fork between the open and its record */
    fd = held[LW_HELD_ANALYST] = open(path, O_RDONLY | O_CLOEXEC);
    pthread_mutex_unlock(&held_lock);
    if (fd < 0)
        return -1;
    while (have + 1 < len && (n = read(fd, buf + have, len - 1 - have)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        have += (size_t)n;
    }
    lw_release(LW_HELD_ANALYST, 0);
    buf[have] = '\0';
    return n < 0 ? -1 : (ssize_t)have;
}

#define LW_SELF_CGROUP_MAX 16384 /* /proc/self/cgroup: a line per v1 hierarchy */

/* The master's own memory cgroup (its workers' too), from /proc/self/cgroup;
 * without one readable, the hierarchy's root stands in. */
static void lw_find_cgroup(void)
{
    static char self[LW_SELF_CGROUP_MAX];
    int rc;

    if (lw_read_text("/proc/self/cgroup", self, sizeof(self)) < 0)
        self[0] = '\0';
    rc = lw_cgroup_find(self, "/sys/fs/cgroup", &cgroup);
    cgroup_found = rc == 0 || rc == -ENOENT; /* -ENOENT: no limit, its OOM kills still count */
}

/* Which limit the workers will meet, in leakwatch's order; logged once. */
static void lw_detect_memory_limit(void)
{
    char from[LW_CGROUP_PATH_MAX + 64];
    char size[32];

    lw_find_cgroup();
    if (cfg.limit_mode == LW_LIMIT_OFF)
        return;
    if (cfg.limit_mode == LW_LIMIT_SET) {
        mem_limit = cfg.memory_limit;
        snprintf(from, sizeof(from), "--leakwatch-memory-limit");
    }
    else if (uwsgi.reload_on_rss) {
        mem_limit = uwsgi.reload_on_rss;
        snprintf(from, sizeof(from), "--reload-on-rss");
    }
    else if (uwsgi.evil_reload_on_rss) {
        mem_limit = uwsgi.evil_reload_on_rss;
        snprintf(from, sizeof(from), "--evil-reload-on-rss");
    }
    else if (cgroup_found && cgroup.limit) {
        mem_limit = cgroup.limit;
        mem_limit_shared = 1;
        snprintf(from, sizeof(from), "cgroup %s, shared by all workers", cgroup.dir);
    }
    if (mem_limit)
        uwsgi_log("[leakwatch]   memory limit %s (%s)\n",
                  lw_size_format(mem_limit, size, sizeof(size)), from);
    else
        uwsgi_log("[leakwatch]   no memory limit found: no OOM projection\n");
}

/* Binds a listener (--leakwatch-report, --leakwatch-http) before fork; an
 * address that cannot be bound stops uWSGI here, with one line. */
#define LW_LISTEN_BACKLOG 128 /* connections waiting: a burst of scrapers is not refused */

static int lw_listen(const char *option, const char *given, const lw_addr_t *a)
{
    char port[8];
    int fd = -1, one = 1;

    if (a->kind == LW_ADDR_UNIX) {
        struct sockaddr_un sun;
        struct stat st;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
        if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(a->path); /* a socket left by a previous run */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        mode_t old = umask(0177); /* created 0600: the report is for the owner */
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, LW_LISTEN_BACKLOG) < 0) {
            umask(old);
            uwsgi_log("[leakwatch] --%s \"%s\": cannot listen: %s\n", option, given,
                      strerror(errno));
            exit(1);
        }
        umask(old);
        chmod(a->path, 0600);
    }
    else {
        struct addrinfo hints, *res = NULL;
        int rc;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(port, sizeof(port), "%u", (unsigned)a->port);
        rc = getaddrinfo(a->host, port, &hints, &res);
        if (rc != 0) {
            uwsgi_log("[leakwatch] --%s \"%s\": cannot resolve %s: %s\n", option, given,
                      a->host, gai_strerror(rc));
            exit(1);
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LW_LISTEN_BACKLOG) < 0) {
            uwsgi_log("[leakwatch] --%s \"%s\": cannot listen: %s\n", option, given,
                      strerror(errno));
            freeaddrinfo(res);
            exit(1);
        }
        freeaddrinfo(res);
    }
    /* On a graceful reload uWSGI's new master closes every descriptor above 2
     * it does not know after the plugins' init, ours included (the listener
     * threads then accept() on nothing): safe fds are kept. The old master's
     * copy still goes at exec (SOCK_CLOEXEC), so this bind finds the port free. */
    uwsgi_add_safe_fd(fd);
    return fd;
}

static int lw_init(void)
{
    char err[512], desc[512], total[32];
    uint32_t nworkers = lw_count_workers(), ncores = lw_count_cores();
    size_t size = lw_shm_size(nworkers, ncores, LW_RING_RECORDS);

    if (lw_config_check(&cfg, err, sizeof(err)) < 0) {
        uwsgi_log("[leakwatch] %s\n", err);
        exit(1);
    }
    if (size == 0) {
        uwsgi_log("[leakwatch] %u workers x %u cores is beyond leakwatch's limits "
                  "(%u workers, %u cores)\n", nworkers, ncores,
                  LW_SHM_MAX_WORKERS, LW_SHM_MAX_CORES);
        exit(1);
    }
    shm = uwsgi_calloc_shared(size);
    if (lw_shm_init(shm, size, nworkers, ncores, LW_RING_RECORDS) < 0) {
        uwsgi_log("[leakwatch] cannot lay out shared memory\n");
        exit(1);
    }
    seen = uwsgi_calloc(sizeof(struct seen) * (nworkers + 1));
    lw_tick_init(&cycle_tick, LW_CYCLE_US);
    lw_tick_init(&summary_tick, (uint64_t)cfg.summary_secs * 1000000);
    uwsgi_string_new_list(&uwsgi.after_request_hooks, LW_HOOK_NAME);
    if (pthread_atfork(lw_atfork_prepare, lw_atfork_parent, lw_atfork_child) != 0)
        uwsgi_log("[leakwatch]   cannot register fork handlers: a worker respawned while the "
                  "master reads /proc or serves a client may keep that descriptor\n");
    lw_register_metrics(nworkers);
    rss_tracks = uwsgi_calloc(sizeof(struct rss_track) * (nworkers + 1));

    uwsgi_log("[leakwatch] enabled: %s\n", lw_config_describe(&cfg, desc, sizeof(desc)));
    uwsgi_log("[leakwatch]   %u workers x %u cores, %s shared memory\n", nworkers,
              ncores, lw_size_format(size, total, sizeof(total)));
    if (!uwsgi.master_process)
        uwsgi_log("[leakwatch]   no master process: requests are counted but nothing "
                  "is analysed; add --master\n");
    lw_detect_memory_limit();
    if (cfg.report) {
        report_fd = lw_listen("leakwatch-report", cfg.report, &cfg.report_addr);
        uwsgi_log("[leakwatch]   report on %s\n", cfg.report);
    }
    if (cfg.http) {
        http_fd = lw_listen("leakwatch-http", cfg.http, &cfg.http_addr);
        uwsgi_log("[leakwatch]   http on %s (/metrics, /report.json)\n", cfg.http);
    }
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
    if (my_wid)
        forked_from_wid = my_wid;
    my_wid = 0;
    engine_on = 0;
}

/* Said once, by the child, at its first request. */
static void lw_say_forked(void)
{
    uwsgi_log("[leakwatch] pid %d, a child the app forked in worker %u, serves requests "
              "as that worker; it publishes nothing (worker %u's own process still does)\n",
              (int)getpid(), forked_from_wid, forked_from_wid);
    forked_from_wid = 0;
}

static void lw_post_fork(void)
{
    PyGILState_STATE gil;

    /* the master's listeners; a connection or /proc file its threads held
     * at the fork was closed already, by lw_atfork_child */
    if (report_fd >= 0) {
        close(report_fd);
        report_fd = -1;
    }
    if (http_fd >= 0) {
        close(http_fd);
        http_fd = -1;
    }
    if (!shm || uwsgi.mywid < 1 || (uint32_t)uwsgi.mywid > shm->nworkers)
        return;
    if (lw_shm_claim(shm, (uint32_t)uwsgi.mywid, (int32_t)getpid(), uwsgi_micros()) < 0)
        return;
    my_wid = (uint32_t)uwsgi.mywid;
    /* registered in the worker only, once per worker process: the master's
     * forks are its own business */
    pthread_atfork(NULL, NULL, lw_forked_by_the_app);
    lw_worker_view_t view;
    if (lw_shm_read(shm, my_wid, &view) < 0)
        view.spawns = 0;
    lw_tick_init(&sites_tick, (uint64_t)cfg.summary_secs * 1000000);
    sites_tick.next_us = uwsgi_micros() + sites_tick.interval_us;
    if (!Py_IsInitialized()) /* no python plugin: nothing to track */
        return;
    gil = PyGILState_Ensure();
    engine_on = lw_engine_start(&cfg, (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^
                                          uwsgi_micros()) == 0;
    if (engine_on)
        lw_engine_publish_to(lw_shm_ring(shm, my_wid), getpid(), view.spawns, uwsgi_micros());
    PyGILState_Release(gil);
}

/* Worker: the counters the master's metrics show, one store each. */
static void lw_worker_publish_counters(void)
{
    lw_worker_slot_t *slot = lw_shm_worker(shm, my_wid);
    lw_engine_stats_t st;

    lw_engine_stats(&st);
    atomic_store_explicit(&slot->samples, st.samples, memory_order_relaxed);
    atomic_store_explicit(&slot->lost, st.lost, memory_order_relaxed);
    atomic_store_explicit(&slot->tracked, st.tracked_bytes, memory_order_relaxed);
}

void leakwatch_after_request(struct wsgi_request *wsgi_req)
{
    lw_core_slot_t *core;

    if (!my_wid || wsgi_req->async_id < 0) {
        if (forked_from_wid)
            lw_say_forked();
        return;
    }
    core = lw_shm_core(shm, my_wid, (uint32_t)wsgi_req->async_id);
    if (core)
        lw_core_count_hooksafe(core);
    if (engine_on) {
        PyGILState_STATE gil = PyGILState_Ensure();
        lw_engine_after_request(wsgi_req->path_info, wsgi_req->path_info_len);
        lw_worker_publish_counters();
        if (cfg.summary_secs && lw_tick_due(&sites_tick, uwsgi_micros()))
            lw_engine_log_sites(my_wid, 3);
        PyGILState_Release(gil);
    }
}

/* Reads every slot whose owner uWSGI agrees on; notes what changed. */
static void lw_master_observe(void)
{
    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        lw_worker_view_t view;

        if (lw_shm_read(shm, wid, &view) < 0)
            continue;
        /* A slot whose pid uWSGI does not know yet is not (yet) its worker. */
        if (view.pid == 0 || view.pid != uwsgi.workers[wid].pid)
            continue;
        if (seen[wid].valid && !memcmp(&seen[wid].view, &view, sizeof(view)))
            continue;
        seen[wid].view = view;
        seen[wid].valid = 1;
        summary_dirty = 1;
    }
}

static void lw_master_summary(void)
{
    uint64_t requests = 0, respawns = 0;
    uint32_t live = 0;

    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        if (!seen[wid].valid)
            continue;
        live++;
        requests += seen[wid].view.requests;
        respawns += seen[wid].view.spawns - 1;
    }
    uwsgi_log("[leakwatch] STATUS %u workers, %llu requests, %llu respawns\n", live,
              (unsigned long long)requests, (unsigned long long)respawns);
    for (uint32_t wid = 1; wid <= shm->nworkers; wid++) {
        if (seen[wid].valid)
            uwsgi_log("[leakwatch]   worker %u pid %d: %llu requests, spawn %llu\n", wid,
                      (int)seen[wid].view.pid,
                      (unsigned long long)seen[wid].view.requests,
                      (unsigned long long)seen[wid].view.spawns);
    }
    summary_dirty = 0;
}

/* Site `id` is evicted, its id about to name another site: the chart kept
 * under that id is the old site's (view_lock held: inside lw_agg_feed). */
static void lw_master_forget_chart(void *ctx, uint32_t id)
{
    (void)ctx;
    if (hist)
        lw_hist_forget(hist, id);
}

static void lw_master_make_agg(void)
{
    lw_alloc_t alloc = {calloc, free};
    lw_agg_cfg_t acfg = {
        .nworkers = shm->nworkers,
        .max_sites = LW_MAX_SITES,
        .local_sites = LW_ENGINE_SITES,
        .local_endpoints = LW_ENGINE_ENDPOINTS,
        .max_endpoints = 4096,
        .detect = {(int64_t)cfg.threshold, 2, (int64_t)lw_config_sample_interval(&cfg)},
        .evicted = lw_master_forget_chart,
        .ignore = cfg.ignore,
        .nignore = cfg.nignore,
    };

    agg = lw_agg_new(&acfg, &alloc);
    outbox = agg ? lw_outbox_new(&alloc) : NULL;
    if (agg && !outbox) {
        lw_agg_free(agg);
        agg = NULL;
    }
    if (!agg)
        uwsgi_log("[leakwatch] master: out of memory for the aggregator; no leak detection\n");
    if (agg && cfg.http && !(hist = lw_hist_new(&alloc, 1)))
        uwsgi_log("[leakwatch] master: out of memory for the history; the page has no charts\n");
}

/* Seconds on a clock that never goes back (the history's). */
static int64_t lw_mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
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
                uwsgi_alarm_trigger((char *)cfg.alarm, (char *)line, n);
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
    if (live == 0 || requests < cfg.warmup * live)
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
    size_t n = lw_agg_top_sites(agg, mem_limit_shared ? 0 : wid, true, top, 3), at = 0;

    if (mem_limit_shared)
        lw_put(text, sizeof(text), &at,
               "[leakwatch] OOM all workers: rss %s growing %s/min, cgroup limit %s in ~%llum%02llus",
               lw_size_format((uint64_t)rss, a, sizeof(a)),
               lw_size_format((uint64_t)(rate * 60.0), b, sizeof(b)),
               lw_size_format(mem_limit, c, sizeof(c)),
               (unsigned long long)(eta / 60), (unsigned long long)(eta % 60));
    else
        lw_put(text, sizeof(text), &at,
               "[leakwatch] OOM worker %u pid %lld: rss %s growing %s/min, limit %s in ~%llum%02llus",
               wid, (long long)pid, lw_size_format((uint64_t)rss, a, sizeof(a)),
               lw_size_format((uint64_t)(rate * 60.0), b, sizeof(b)),
               lw_size_format(mem_limit, c, sizeof(c)),
               (unsigned long long)(eta / 60), (unsigned long long)(eta % 60));
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *s = lw_agg_site(agg, top[i]);
        int64_t bytes = mem_limit_shared ? s->live : lw_agg_share(agg, top[i], wid);
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
    /* two looks: the second T/4 further grown (detect.c) is what a third look used to add */
    lw_detect_cfg_t dcfg = {(int64_t)cfg.threshold, 2, (int64_t)lw_config_sample_interval(&cfg)};
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

        m_worker[3 * wid + 2] = 0;
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
        if (!mem_limit || mem_limit_shared)
            continue;
        eta = lw_oom_eta((uint64_t)rss, mem_limit, rate);
        m_worker[3 * wid + 2] = (int64_t)eta;
        /* warn once, and again only when the ETA has halved */
        if (eta && eta < cfg.oom_horizon && (!r->warned_eta || eta * 2 <= r->warned_eta)) {
            r->warned_eta = eta;
            r->warned_pid = pid;
            lw_master_oom(wid, pid, rss, rate, eta);
        }
    }
    if (mem_limit && mem_limit_shared) {
        uint64_t eta = lw_oom_eta((uint64_t)total_rss, mem_limit, total_rate);
        for (uint32_t wid = 1; wid <= shm->nworkers; wid++)
            m_worker[3 * wid + 2] = (int64_t)eta;
        if (eta && eta < cfg.oom_horizon &&
            (!rss_tracks[0].warned_eta || eta * 2 <= rss_tracks[0].warned_eta)) {
            rss_tracks[0].warned_eta = eta;
            lw_master_oom(0, (int64_t)getpid(), (int64_t)total_rss, total_rate, eta);
        }
    }
}

/* The cgroup's count of OOM kills (v2 memory.events, v1 memory.oom_control), or 0. */
static uint64_t lw_oom_kill_count(void)
{
    char text[1024];
    uint64_t n = 0;

    if (!cgroup_found || lw_read_text(cgroup.events, text, sizeof(text)) < 0 ||
        lw_cgroup_oom_kills(text, &n) < 0)
        return 0;
    return n;
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
        .oom_kills = lw_oom_kill_count(),
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
    lw_departure_t deps[16];
    size_t n = lw_agg_departures(agg, deps, 16);
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
        int64_t *m = &m_worker[3 * wid];
        if (spawn != last_spawn[wid]) { /* a new generation starts its own rate */
            last_spawn[wid] = spawn;
            last_tracked[wid] = t;
            m[1] = 0;
            ended_samples += gen_samples[wid];
            ended_lost += gen_lost[wid];
            gen_samples[wid] = gen_lost[wid] = 0;
        }
        /* bytes per minute, smoothed over about five seconds */
        m[1] = (4 * m[1] + (t - last_tracked[wid]) * 60) / 5;
        last_tracked[wid] = t;
        m[0] = t;
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
    m_tracked = tracked;
    m_samples = samples;
    m_lost = lost + (int64_t)ast.overflowed + (int64_t)ast.malformed;
    m_suspects = (int64_t)lw_agg_suspects(agg);
    lw_master_project((double)uwsgi_micros() / 1e6);
    m_alerts = 0;
    for (size_t k = 0; k < sizeof(alert_kinds) / sizeof(alert_kinds[0]); k++)
        m_alerts += (int64_t)alert_kinds[k].count;
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

    lw_tick_init(&metrics_tick, 1000000);
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
        workers[nw].tracked = m_worker[3 * wid];
        workers[nw].growth_rate = m_worker[3 * wid + 1];
        workers[nw].oom_eta = m_worker[3 * wid + 2];
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
    lw_report_input_t in = {UWSGI_VERSION, &cfg, workers, nw, agg, alerts, na};
    char *doc = workers ? lw_report_render(&in) : NULL;

    free(workers);
    return doc;
}

/* The page (GET /), from the current view (view_lock held). */
static char *lw_master_page(size_t *len)
{
    static const lw_alloc_t heap = {calloc, free};
    lw_report_alert_t alerts[LW_ALERT_HISTORY];
    size_t nw;
    lw_report_worker_t *workers = lw_master_workers(&nw);
    lw_page_input_t in = {
        .version = UWSGI_VERSION, .cfg = &cfg, .mem_limit = mem_limit,
        .limit_shared = mem_limit_shared, .workers = workers,
        .nworkers = nw, .agg = agg, .hist = hist,
        .hist_now = lw_mono_seconds(), .alerts = alerts, .nalerts = lw_master_alerts(alerts),
        .samples = (uint64_t)m_samples, .lost = (uint64_t)m_lost, .max_sites = LW_PAGE_SITES,
        .refresh = LW_PAGE_REFRESH,
    };
    char *page = workers ? lw_page_render(&in, &heap, len) : NULL;

    free(workers);
    return page;
}

/*
 * A listener's connection ends LW_CONN_SECONDS after it was accepted,
 * whatever the client does: each read or write also times out after 2 s,
 * but a client trickling a byte a second would otherwise hold the listener
 * for as long as its request head may be (8 KiB). One per listener thread.
 */
#define LW_CONN_SECONDS 5
static _Thread_local int64_t conn_deadline; /* lw_mono_seconds() */

static int lw_conn_expired(void)
{
    return lw_mono_seconds() >= conn_deadline;
}

/* read() within the connection's deadline: -1 once it has passed. */
static ssize_t lw_conn_read(int fd, char *buf, size_t len)
{
    return lw_conn_expired() ? -1 : read(fd, buf, len);
}

/* Writes all of buf or gives up (send timeout, or the connection's deadline). */
static void lw_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0 && !lw_conn_expired()) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/*
 * The reporter: one JSON document per connection, then close, like the
 * stats server. A client that does not read is cut off by the send
 * timeout; the document's size is bounded (LW_REPORT_SITES_MAX sites).
 */
/* Answers one report connection: the document, then close. */
static void lw_report_answer(int client)
{
    char *doc;

    pthread_mutex_lock(&view_lock);
    doc = lw_master_render();
    pthread_mutex_unlock(&view_lock);
    if (doc) {
        lw_write_all(client, doc, strlen(doc));
        lw_write_all(client, "\n", 1);
        lw_report_free(doc);
    }
}

/* A master listener's thread: one connection at a time, each read and
 * write bounded by 2 s and the whole connection by LW_CONN_SECONDS, so a
 * slow client holds the listener for seconds at most and never the master.
 * `answer` serves one connection; the connection is held in `slot` (see
 * held[]) and shut down when done. */
static void lw_serve(int fd, int slot, void (*answer)(int client))
{
    sigset_t all;
    struct timeval timeout = {2, 0};

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the master loop's */
    for (;;) {
        int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (client >= 0) {
            pthread_mutex_lock(&held_lock);
            held[slot] = client;
            pthread_mutex_unlock(&held_lock);
        }
        if (client < 0) {
            if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
                uwsgi_log("[leakwatch] master: listener fd %d is gone (%s); it serves no more\n",
                          fd, strerror(errno));
                return;
            }
            if (errno != EINTR && errno != ECONNABORTED)
                usleep(100000); /* EMFILE and friends: don't spin */
            continue;
        }
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        conn_deadline = lw_mono_seconds() + LW_CONN_SECONDS;
        answer(client);
        lw_release(slot, 1);
    }
}

static void *lw_reporter(void *arg)
{
    (void)arg;
    lw_serve(report_fd, LW_HELD_REPORT, lw_report_answer);
    return NULL;
}

/* /metrics: the exposition, rendered from the current view (view_lock held). */
static char *lw_master_metrics(size_t *len)
{
    static const lw_alloc_t heap = {calloc, free};
    size_t nw;
    lw_report_worker_t *workers = lw_master_workers(&nw);
    lw_expo_input_t in = {workers, nw, agg, cfg.http_sites,
                          alert_kinds, sizeof(alert_kinds) / sizeof(alert_kinds[0]),
                          (uint64_t)m_samples, (uint64_t)m_lost};
    char *text = workers ? lw_expo_render(&in, &heap, len) : NULL;

    free(workers);
    return text;
}

static void lw_http_reply(int fd, const char *status, const char *type, const char *body,
                          size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, type, len);

    lw_write_all(fd, head, (size_t)n);
    lw_write_all(fd, body, len);
}

static void lw_http_unavailable(int fd)
{
    static const char oom[] = "out of memory\n";
    lw_http_reply(fd, "503 Service Unavailable", "text/plain", oom, sizeof(oom) - 1);
}

/* The report as /report.json serves it. */
static char *lw_master_report(size_t *len)
{
    char *doc = lw_master_render();

    *len = doc ? strlen(doc) : 0;
    return doc;
}

/* Releases what the page and /metrics render (from calloc), with the type
 * the route table calls: free() through another type is undefined. */
static void lw_free_text(char *text)
{
    free(text);
}

/* What --leakwatch-http serves: each a render from the current view. */
static const struct lw_route {
    const char *path, *type;
    char *(*render)(size_t *len); /* view_lock held; NULL when memory runs out */
    void (*release)(char *text);
} routes[] = {
    {"/", "text/html; charset=utf-8", lw_master_page, lw_free_text},
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", lw_master_metrics, lw_free_text},
    {"/report.json", "application/json", lw_master_report, lw_report_free},
};

static void lw_http_route(int fd, const struct lw_route *route)
{
    size_t len = 0;
    char *text;

    pthread_mutex_lock(&view_lock);
    text = route->render(&len);
    pthread_mutex_unlock(&view_lock);
    if (!text) {
        lw_http_unavailable(fd);
        return;
    }
    lw_http_reply(fd, "200 OK", route->type, text, len);
    route->release(text);
}

/* Reads one request head (bounded in size and time) and answers it. */
static void lw_http_answer(int fd)
{
    char buf[LW_HTTP_HEAD_MAX];
    size_t have = 0;
    lw_http_request_t req;
    int rc = 0;

    while (rc == 0 && have < sizeof(buf)) {
        ssize_t n = lw_conn_read(fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            return; /* closed, timed out or failed: nothing to answer */
        have += (size_t)n;
        rc = lw_http_parse(buf, have, &req);
    }
    if (rc <= 0) {
        static const char bad[] = "bad request\n";
        lw_http_reply(fd, "400 Bad Request", "text/plain", bad, sizeof(bad) - 1);
        /* read what was sent (bounded), so the close does not reset the answer away */
        shutdown(fd, SHUT_WR);
        for (size_t drained = 0; drained < 65536;) {
            ssize_t n = lw_conn_read(fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            drained += (size_t)n;
        }
        return;
    }
    if (strcmp(req.method, "GET") != 0) {
        static const char only[] = "GET only\n";
        lw_http_reply(fd, "405 Method Not Allowed", "text/plain", only, sizeof(only) - 1);
        return;
    }
    for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
        if (strcmp(req.path, routes[r].path) == 0) {
            lw_http_route(fd, &routes[r]);
            return;
        }
    }
    static const char none[] = "not found: /, /metrics and /report.json are served here\n";
    lw_http_reply(fd, "404 Not Found", "text/plain", none, sizeof(none) - 1);
}

/* --leakwatch-http, in a master thread (bounded as lw_serve says). */
static void *lw_http_serve(void *arg)
{
    (void)arg;
    lw_serve(http_fd, LW_HELD_HTTP, lw_http_answer);
    return NULL;
}

/*
 * Starts one of the master's threads (analyst, listeners) with at least
 * LW_THREAD_STACK_MIN of stack. The default depends on the libc (glibc
 * takes RLIMIT_STACK, 8 MiB on most hosts; musl gives 128 KiB), so the
 * floor makes every libc give what the tests run with. The deepest path
 * needs a few tens of KiB (an 8 KiB request head, uwsgi_log's 4 KiB, the
 * 16 KiB Theil-Sen scratch); nothing sized by the worker count lives on
 * these stacks. Returns pthread_create's result.
 */
#define LW_THREAD_STACK_MIN (256 * 1024)

static int lw_thread_start(pthread_t *thread, void *(*run)(void *))
{
    pthread_attr_t attr;
    size_t stack = 0;
    int rc = pthread_attr_init(&attr);

    if (rc != 0)
        return rc;
    if (pthread_attr_getstacksize(&attr, &stack) != 0 || stack < LW_THREAD_STACK_MIN)
        pthread_attr_setstacksize(&attr, LW_THREAD_STACK_MIN);
    rc = pthread_create(thread, &attr, run, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

static void lw_master_start_analyst(void)
{
    static int tried;

    if (tried)
        return;
    tried = 1;
    oom_kills = lw_oom_kill_count(); /* only kills from now on are ours to explain */
    lw_master_make_agg();
    if (agg && lw_thread_start(&analyst, lw_analyst) != 0) {
        uwsgi_log("[leakwatch] master: cannot start the analyst thread; no leak detection\n");
        lw_agg_free(agg);
        agg = NULL;
    }
    if (agg && report_fd >= 0 && lw_thread_start(&reporter, lw_reporter) != 0)
        uwsgi_log("[leakwatch] master: cannot start the report thread; no report on %s\n",
                  cfg.report);
    if (agg && http_fd >= 0 && lw_thread_start(&http_server, lw_http_serve) != 0)
        uwsgi_log("[leakwatch] master: cannot start the http thread; nothing served on %s\n",
                  cfg.http);
}

static void lw_master_cycle(void)
{
    uint64_t now;

    if (!shm)
        return;
    lw_master_start_analyst();
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
    .master_cycle = lw_master_cycle,
};

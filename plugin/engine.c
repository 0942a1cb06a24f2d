/*
 * engine.c - the worker's step after each request: the gc policy, and
 * publishing what changed per site (what the hooks recorded, hooks.h) into
 * the worker's ring for the master, with each site's identity and each
 * endpoint's name the first time; between requests, what moved is
 * published from the hooks every BETWEEN_US (after_sample). Also the SITES
 * debug log.
 *
 * All of it runs with the GIL held (the after-request hook takes it; the
 * hooks run under it), so it is ordered with the allocator hooks.
 */
#include "pyversion.h" /* <Python.h>, every symbol weak */
#include <uwsgi.h>

#include <malloc.h>

#include "../src/gcpolicy.h"
#include "../src/path.h"
#include "../src/size.h"
#include "../src/tick.h"
#include "../src/topn.h"
#include "../src/wire.h"
#include "clock.h"
#include "collect.h"
#include "engine.h"
#include "freelists.h"
#include "frames.h"
#include "holders.h"
#include "hooks.h"

#define DELTA_BATCH    256
#define ENDPOINTS_MAX  LW_ENGINE_ENDPOINTS
#define SITES_LOGGED_MAX 16          /* lw_engine_log_sites' top, at most */
#define FRAMES_LOGGED_MAX 8          /* traceback lines per site in the SITES log */
#define BETWEEN_US 100000            /* between requests, publish at most this often */
/* malloc's free bytes (native.h): read at most every MALLOC_EVERY_US, and
 * MALLOC_SHARE times a read's mean CPU cost apart at least (mallinfo2 walks
 * every free chunk), so for about 1/MALLOC_SHARE of a worker's time at most */
#define MALLOC_EVERY_US 4000
#define MALLOC_SHARE 1000

extern struct uwsgi_server uwsgi;

/* Per site, for publishing: its identity sent, and its feeders. */
struct site_info {
    bool defined;                    /* its identity went into the ring */
    int64_t grown_bytes;             /* sum of positive deltas */
    char endpoint[LW_ENDPOINT_MAX];  /* last endpoint that grew the site */
};

/* Worker-local endpoint names, interned; id 0 is "other". */
struct endpoint {
    char name[LW_ENDPOINT_MAX];
    bool defined;
};

static void after_sample(void);
static void send_held(void);

/* Worker-local engine state, written under the GIL (after-request). */
static struct {
    int running;
    const lw_config_t *cfg;
    lw_sites_t *sites;               /* the hooks' */
    struct site_info *info;          /* [LW_HOOKS_SITES] */
    lw_site_delta_t deltas[DELTA_BATCH];
    uint64_t collections, requests;
    lw_gcpolicy_t gc;                /* when to collect (gcpolicy.h) */
    /* publishing */
    lw_ring_t *ring;
    lw_worker_slot_t *slot;          /* its counters, for the master's metrics */
    uint32_t walk_seen;              /* the master's last walk request, answered */
    uint32_t collect_made, collect_said; /* collection rounds run, and said (agg.h, Gates) */
    bool walk_scheduled;             /* a mule's or spooler's walk waits for Python (pending call) */
    bool held_pending;               /* the answer waits for room in the ring */
    uint32_t held_site;
    char held[LW_HOLD_TEXT_MAX + 64];
    lw_record_t hello;
    bool hello_sent;
    struct endpoint *endpoints;      /* [ENDPOINTS_MAX] */
    uint32_t *endpoint_index;        /* [2 * ENDPOINTS_MAX] name hash -> id, 0 = empty */
    uint32_t nendpoints;
    lw_record_t group[LW_WIRE_SITE_RECORDS]; /* a site's or an endpoint's records */
    uint64_t published_us;           /* the last publication, CLOCK_MONOTONIC_COARSE */
    lw_tick_t malloc_tick;           /* when malloc's free bytes are read next */
    char who[32];                    /* "worker 2", "mule 1": for the log */
    char between[LW_ENDPOINT_MAX];   /* the endpoint outside requests ("<no request>") */
} eng;

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static int64_t tracked_now(void)
{
    lw_hooks_stats_t st;

    lw_hooks_stats(&st);
    return st.tracked;
}

/* The file name of a site: a pseudo-site (no Python frame, the free lists,
 * the overflow) has no file of its own. */
static const char *site_file(uint32_t idx, const lw_site_key_t *key)
{
    if (idx == LW_SITE_OVERFLOW) /* a table was full: the bytes, not their lines */
        return LW_NAME_OVERFLOW;
    if (key->file)
        return lw_frames_name(key->file);
    return key->line == LW_LINE_SHELF ? LW_NAME_SHELF : LW_NAME_NO_FRAME;
}

int lw_engine_start(const lw_config_t *cfg, uint64_t seed, const char *who, const char *between)
{
    int rc = lw_frames_init();

    eng.cfg = cfg;
    snprintf(eng.who, sizeof(eng.who), "%s", who);
    snprintf(eng.between, sizeof(eng.between), "%s", between);
    eng.info = map_zeroed(sizeof(struct site_info) * LW_HOOKS_SITES);
    eng.endpoints = map_zeroed(sizeof(struct endpoint) * ENDPOINTS_MAX);
    eng.endpoint_index = map_zeroed(sizeof(uint32_t) * 2 * ENDPOINTS_MAX);
    eng.nendpoints = 1; /* id 0: "other" */
    if (rc == -ENOMEM || !eng.info || !eng.endpoints || !eng.endpoint_index ||
        lw_hooks_start(cfg, seed) < 0) {
        uwsgi_log("[leakwatch] %s: cannot map its tables; running untracked\n", eng.who);
        return -1;
    }
    if (rc < 0)
        uwsgi_log("[leakwatch] %s: sysconfig unavailable; only site-/dist-packages "
                  "count as libraries\n", eng.who);
    eng.sites = lw_hooks_sites();
    lw_freelists_start();
    eng.running = 1;
    lw_hooks_after_sample(after_sample);
    return 0;
}

/* A collection made on leakwatch's behalf: counted, and the policy's next
 * is reckoned from it. */
static void collected(void)
{
    eng.collections++;
    lw_gcpolicy_collected(&eng.gc, eng.requests, tracked_now());
}

void lw_engine_publish_to(lw_ring_t *ring, lw_worker_slot_t *slot, int64_t pid, uint64_t spawn,
                          uint64_t spawned_us)
{
    const lw_wire_msg_t hello = {.kind = LW_REC_HELLO, .u.hello = {pid, spawn, spawned_us}};

    lw_wire_encode(&eng.hello, 1, &hello);
    eng.hello_sent = false;
    eng.ring = ring;
    eng.slot = slot;
    lw_tick_init(&eng.malloc_tick, MALLOC_EVERY_US); /* the first request reads it */
    /* requests before this generation named another's local sites */
    eng.walk_seen = slot ? atomic_load_explicit(&slot->walk_seq, memory_order_acquire) : 0;
    /* a new process has no garbage of the rounds asked before it */
    eng.collect_made = eng.collect_said =
        slot ? atomic_load_explicit(&slot->collect_ask, memory_order_acquire) : 0;
    if (slot)
        atomic_store_explicit(&slot->collect_done, eng.collect_said, memory_order_release);
}

/*
 * A site's identity, once per worker generation (src/wire.h encodes it:
 * file, function, the application frame's, then the traceback, cut to fit
 * dropping outer frames first). Pseudo-sites have negative lines
 * (LW_LINE_OVERFLOW, LW_LINE_SHELF, ...). Returns 0, or -1 when the ring
 * cannot take it now.
 */
static int define_site(uint32_t idx)
{
    const lw_site_t *s = lw_sites_get(eng.sites, idx);
    int total;
    const lw_frame_t *frames = lw_hooks_traceback(idx, &total);
    lw_wire_frame_t named[LW_FRAMES_MAX];
    bool overflow = idx == LW_SITE_OVERFLOW;
    lw_wire_site_t site = {
        .id = idx,
        .line = overflow ? LW_LINE_OVERFLOW : s->key.line,
        .app_line = overflow ? LW_LINE_OVERFLOW : s->key.app_line,
        .file = site_file(idx, &s->key),
        .func = lw_frames_name(s->key.func),
        .app_file = s->key.app_file ? lw_frames_name(s->key.app_file) : "",
        .app_func = s->key.app_file ? lw_frames_name(s->key.app_func) : "",
        .frames = named,
    };
    int n;

    for (int f = 0; f < total && f < LW_FRAMES_MAX; f++)
        named[site.nframes++] = (lw_wire_frame_t){lw_frames_name(frames[f].file), frames[f].line,
                                                  lw_frames_name(frames[f].func)};
    n = lw_wire_encode_site(eng.group, LW_WIRE_SITE_RECORDS, &site);
    if (n < 0 || lw_ring_push(eng.ring, eng.group, (uint64_t)n) < 0)
        return -1;
    eng.info[idx].defined = true;
    return 0;
}

/* The worker-local id of this request's endpoint, defined in the ring on first use. */
static uint32_t endpoint_id(const char *name)
{
    uint64_t h = UINT64_C(1469598103934665603);
    uint32_t slot, id;

    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * UINT64_C(1099511628211);
    /* open addressing over 2 x ENDPOINTS_MAX slots: a request costs a hash and a compare */
    for (slot = (uint32_t)(h % (2 * ENDPOINTS_MAX));; slot = (slot + 1) % (2 * ENDPOINTS_MAX)) {
        id = eng.endpoint_index[slot];
        if (id == 0 || !strcmp(eng.endpoints[id].name, name))
            break;
    }
    if (id == 0) {
        if (eng.nendpoints >= ENDPOINTS_MAX)
            return 0;
        id = eng.nendpoints++;
        snprintf(eng.endpoints[id].name, LW_ENDPOINT_MAX, "%s", name);
        eng.endpoint_index[slot] = id;
    }
    if (!eng.endpoints[id].defined) {
        const lw_wire_msg_t def = {.kind = LW_REC_ENDPOINT, .id = id, .text = name,
                                   .text_len = (uint32_t)strlen(name)};
        int n = lw_wire_encode(eng.group, LW_WIRE_SITE_RECORDS, &def);
        if (n < 0 || lw_ring_push(eng.ring, eng.group, (uint64_t)n) < 0)
            return 0;
        eng.endpoints[id].defined = true;
    }
    return id;
}

/* Pushes one delta (and its site's identity first, once). What the cyclic
 * collector freed goes apart, after the rest, marked (wire.h): it was
 * garbage, no release of the site (agg.h, Gates). -1: ring full. */
static int publish_delta(const lw_site_delta_t *d, uint32_t endpoint)
{
    const lw_wire_msg_t rest = {.kind = LW_REC_DELTA, .id = d->site,
                                .u.delta = {d->bytes + d->collected, d->count, endpoint}};
    const lw_wire_msg_t garbage = {.kind = LW_REC_DELTA, .id = d->site,
                                   .u.delta = {-d->collected, 0, endpoint, LW_DELTA_COLLECTED}};
    lw_record_t rec[2];
    int n = 0;

    if (!eng.info[d->site].defined && define_site(d->site) < 0)
        return -1;
    if (d->bytes + d->collected || d->count || !d->collected)
        n += lw_wire_encode(&rec[n], 1, &rest);
    if (d->collected)
        n += lw_wire_encode(&rec[n], 1, &garbage);
    return lw_ring_push(eng.ring, rec, (uint64_t)n);
}

/* Allocations no longer reach the hooks: say so once, publish nothing more
 * (the sites keep their last values rather than grow with unseen frees). */
static void detach(void)
{
    eng.running = 0;
    uwsgi_log("[leakwatch] %s: the app replaced Python's allocator "
              "(PyMem_SetAllocator) with hooks that do not pass allocations on to "
              "leakwatch's; its allocations are no longer seen, so leakwatch "
              "stops reporting its sites (hooks that chain to the allocator they find, "
              "like tracemalloc's, keep leakwatch working)\n",
              eng.who);
}

static uint64_t coarse_us(void)
{
    return lw_clock_us(CLOCK_MONOTONIC_COARSE);
}

/*
 * The bytes this process's malloc holds free, for the master's NATIVE
 * series (native.h), when due (eng.malloc_tick). glibc's mallinfo2() locks
 * each arena in turn and walks its free chunks: 1.6 us with 500 of them,
 * 55 us with 5,000, 1.25 ms with 50,000 (a C program with glibc 2.36);
 * so the reads are paced by their own cost, and are otherwise at most
 * MALLOC_EVERY_US old (the coarse clock's tick here): the master subtracts
 * them from RSS it reads itself, and with readings 100 ms apart a worker
 * whose freed memory grew 100 MB/s looked like a native leak (test_native). No
 * mallinfo2 (a libc without it): nothing published, the series is as
 * before.
 */
static void publish_malloc_free(uint64_t now)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    if (!lw_tick_due(&eng.malloc_tick, now))
        return;
    /* the cost in this thread's CPU time: time it spent preempted is no cost */
    uint64_t start = lw_clock_us(CLOCK_THREAD_CPUTIME_ID);
    struct mallinfo2 mi = mallinfo2();
    uint64_t cost = lw_clock_us(CLOCK_THREAD_CPUTIME_ID) - start;
    lw_tick_took(&eng.malloc_tick, now + cost, cost, MALLOC_SHARE);
    atomic_store_explicit(&eng.slot->malloc_free,
                          mi.fordblks > INT64_MAX ? INT64_MAX : (int64_t)mi.fordblks,
                          memory_order_relaxed);
#else
    (void)now;
#endif
}

/* The slot's counters that the master's metrics show, one store each. */
static void publish_counters(uint64_t now)
{
    lw_hooks_stats_t st;

    lw_hooks_stats(&st);
    atomic_store_explicit(&eng.slot->samples, st.samples, memory_order_relaxed);
    atomic_store_explicit(&eng.slot->lost, st.lost, memory_order_relaxed);
    atomic_store_explicit(&eng.slot->tracked, st.tracked, memory_order_relaxed);
    publish_malloc_free(now);
}

/*
 * Publishes the sites that changed, attributed to `endpoint` (a buffer of
 * LW_ENDPOINT_MAX bytes, copied whole per grown site; guard set).
 * What the ring cannot take now stays dirty and goes next time. Returns
 * the number of site deltas published.
 */
static size_t publish(const char *endpoint)
{
    size_t n, total = 0;
    uint32_t ep;
    bool full = false;
    uint64_t now = coarse_us();

    if (eng.slot)
        publish_counters(now);
    if (eng.ring && !eng.hello_sent)
        eng.hello_sent = lw_ring_push(eng.ring, &eng.hello, 1) == 0;
    send_held();
    if (!eng.ring || !eng.hello_sent || lw_ring_space(eng.ring) == 0)
        return 0; /* no master to tell yet, or it is behind: keep coalescing in the table */
    eng.published_us = now;
    if (!lw_sites_changed(eng.sites))
        return 0; /* nothing to say: no endpoint to name */
    ep = endpoint_id(endpoint);
    /* Until the ring takes them, deltas stay in the site table, coalescing. */
    while (!full && (n = lw_sites_drain(eng.sites, eng.deltas, DELTA_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct site_info *si = &eng.info[eng.deltas[i].site];
            if (full || publish_delta(&eng.deltas[i], ep) < 0) {
                full = true;
                lw_sites_unpublish(eng.sites, &eng.deltas[i]);
                continue;
            }
            if (eng.deltas[i].bytes > 0) {
                si->grown_bytes += eng.deltas[i].bytes;
                memcpy(si->endpoint, endpoint, sizeof(si->endpoint));
            }
            total++;
        }
    }
    return total;
}

/* The answer to the master's question (walk_if_asked), once the ring has
 * room: it waits in eng.held meanwhile. */
static void send_held(void)
{
    const lw_wire_msg_t msg = {.kind = LW_REC_HELD, .id = eng.held_site, .text = eng.held,
                               .text_len = (uint32_t)strlen(eng.held)};
    int n;

    if (!eng.held_pending || !eng.ring || !eng.hello_sent)
        return;
    n = lw_wire_encode(eng.group, LW_WIRE_SITE_RECORDS, &msg);
    if (n < 0 || lw_ring_push(eng.ring, eng.group, (uint64_t)n) == 0)
        eng.held_pending = false; /* sent (or cannot ever be: never so, the text is bounded) */
}

/* Whether the master asked a question this process has not answered. */
static bool asked(void)
{
    return eng.slot &&
           atomic_load_explicit(&eng.slot->walk_seq, memory_order_acquire) != eng.walk_seen;
}

/*
 * The master asked what holds one of this process's sites (an announced
 * leak): walk from its sampled live objects (holders.h) and answer in the
 * ring (the master says it). After a request, or from a pending call (a
 * mule, a spooler): with Python in a consistent state, never from the
 * allocator hooks. Guard set.
 */
static void walk_if_asked(void)
{
    uint32_t site;

    if (!asked() || eng.held_pending)
        return; /* the last answer is not out yet: this question waits for it */
    eng.walk_seen = atomic_load_explicit(&eng.slot->walk_seq, memory_order_acquire);
    site = atomic_load_explicit(&eng.slot->walk_site, memory_order_relaxed);
    if (site >= eng.sites->used || site == LW_SITE_OVERFLOW)
        snprintf(eng.held, sizeof(eng.held), "held by: unknown (no such site here)");
    else if (eng.cfg->gc == LW_GC_OFF)
        lw_holders_walk(site, eng.cfg->hold_budget_us, false, eng.held, sizeof(eng.held));
    else {
        lw_holders_walk(site, eng.cfg->hold_budget_us, true, eng.held, sizeof(eng.held));
        collected(); /* the walk collected first */
    }
    eng.held_site = site;
    eng.held_pending = true;
    send_held();
}

/*
 * Whether to collect after this request: the gc policy's (gcpolicy.h:
 * cyclic garbage must not look like growth), or a round the master asks (it
 * holds a LEAK until the workers holding its site collected, agg.h, Gates;
 * said once what it freed is in the ring: the master reads the round, then
 * drains).
 */
static bool collection_due(void)
{
    uint32_t ask = eng.slot ? atomic_load_explicit(&eng.slot->collect_ask, memory_order_acquire)
                            : eng.collect_made;

    if (ask == eng.collect_made && !lw_gcpolicy_due(&eng.gc, eng.cfg, eng.requests, tracked_now()))
        return false;
    eng.collect_made = ask;
    return true;
}

static void say_collected(void)
{
    if (eng.collect_made != eng.collect_said && !lw_sites_changed(eng.sites)) {
        atomic_store_explicit(&eng.slot->collect_done, eng.collect_made, memory_order_release);
        eng.collect_said = eng.collect_made;
    }
}

size_t lw_engine_after_request(const char *path, size_t path_len)
{
    char endpoint[LW_ENDPOINT_MAX];
    size_t total;

    if (!eng.running)
        return 0;
    if (!lw_hooks_reached()) {
        detach();
        return 0;
    }
    lw_hooks_guard(true);
    eng.requests++;
    lw_freelists_after_request();
    if (collection_due()) {
        lw_collect_garbage();
        collected();
    }
    /* the endpoint's name only when a site changed: most requests take no
     * sample at the defaults (make bench's /tiny: 0.4 a request) */
    endpoint[0] = '\0';
    if (lw_sites_changed(eng.sites))
        lw_path_fold(path, path_len, endpoint, sizeof(endpoint));
    total = publish(endpoint);
    say_collected();
    walk_if_asked();
    lw_hooks_guard(false);
    return total;
}

/* No request of this process is running: its allocations are no request's. */
static bool between_requests(void)
{
    if (uwsgi.mywid <= 0 || !uwsgi.workers)
        return true;
    for (int c = 0; c < uwsgi.cores; c++)
        if (uwsgi.workers[uwsgi.mywid].cores[c].in_request)
            return false;
    return true;
}

/* A mule's or spooler's walk, run by Python's main thread at its next
 * safe point (Py_AddPendingCall): they serve no requests to walk after. */
static int walk_pending(void *arg)
{
    (void)arg;
    eng.walk_scheduled = false;
    if (!eng.running)
        return 0;
    lw_hooks_guard(true);
    walk_if_asked();
    lw_hooks_guard(false);
    return 0;
}

/*
 * After a sampled allocation (hooks.h; guard set, GIL held): memory that
 * moves between requests (a thread of an idle or quiet worker) is
 * published every BETWEEN_US, under eng.between, so the master's
 * series has points without requests (src/workclock.h). During a request
 * its after-request step publishes. Costs a coarse clock read per sample.
 */
static void after_sample(void)
{
    uint64_t now;

    if (!eng.running || !eng.ring || (now = coarse_us()) - eng.published_us < BETWEEN_US ||
        !between_requests())
        return; /* publish() says HELLO first: a worker may not have served a request yet */
    publish(eng.between);
    /* a worker walks after its next request; a mule or spooler when Python
     * next can (Py_AddPendingCall takes a lock and allocates nothing) */
    if (uwsgi.mywid <= 0 && !eng.walk_scheduled && asked() &&
        Py_AddPendingCall(walk_pending, NULL) == 0)
        eng.walk_scheduled = true;
}

void lw_engine_stop_publishing(void)
{
    eng.ring = NULL;
}

static void log_site(uint32_t idx)
{
    const lw_site_t *s = lw_sites_get(eng.sites, idx);
    const struct site_info *si = &eng.info[idx];
    int nframes;
    const lw_frame_t *frames = lw_hooks_traceback(idx, &nframes);
    char live[32];

    if (idx == LW_SITE_OVERFLOW) {
        uwsgi_log("[leakwatch]   %s: %s live\n", site_file(idx, &s->key),
                  lw_size_format((uint64_t)(s->live_bytes > 0 ? s->live_bytes : 0), live,
                                 sizeof(live)));
        return;
    }
    uwsgi_log("[leakwatch]   %s:%d in %s(): %s live (%lld bytes), %.0f blocks, %llu samples, "
              "last grown by %s\n",
              site_file(idx, &s->key), s->key.line, lw_frames_name(s->key.func),
              lw_size_format((uint64_t)(s->live_bytes > 0 ? s->live_bytes : 0), live,
                             sizeof(live)),
              (long long)s->live_bytes, (double)s->live_count / (double)LW_COUNT_ONE,
              (unsigned long long)s->samples, si->endpoint[0] ? si->endpoint : "-");
    if (s->key.app_file && (s->key.app_file != s->key.file || s->key.app_func != s->key.func ||
                            s->key.app_line != s->key.line))
        uwsgi_log("[leakwatch]     from the application at %s:%d in %s()\n",
                  lw_frames_name(s->key.app_file), s->key.app_line,
                  lw_frames_name(s->key.app_func));
    for (int f = 0; f < nframes && f < FRAMES_LOGGED_MAX; f++) {
        const lw_frame_t *fr = &frames[f];
        uwsgi_log("[leakwatch]     #%d %s:%d in %s()\n", f, lw_frames_name(fr->file), fr->line,
                  lw_frames_name(fr->func));
    }
}

void lw_engine_log_sites(uint32_t wid, int top)
{
    uint32_t best[SITES_LOGGED_MAX];
    int64_t live[SITES_LOGGED_MAX];
    char tracked[32];
    lw_hooks_stats_t st;
    lw_topn_t largest;

    if (!eng.running)
        return;
    if (top > SITES_LOGGED_MAX)
        top = SITES_LOGGED_MAX;
    lw_hooks_guard(true);
    lw_hooks_stats(&st);
    /* A scan of the table: fine every few seconds, never per request. */
    lw_topn_init(&largest, best, live, (size_t)top);
    for (uint32_t i = 0; i < eng.sites->used; i++) {
        if (eng.sites->sites[i].live_bytes > 0)
            lw_topn_offer(&largest, i, eng.sites->sites[i].live_bytes);
    }
    uwsgi_log("[leakwatch] SITES worker %u pid %d after %llu requests: %s tracked in %u sites, "
              "%llu samples, %llu lost, %llu collections\n", wid, (int)getpid(),
              (unsigned long long)eng.requests,
              lw_size_format((uint64_t)(st.tracked > 0 ? st.tracked : 0), tracked,
                             sizeof(tracked)),
              eng.sites->used, (unsigned long long)st.samples, (unsigned long long)st.lost,
              (unsigned long long)eng.collections);
    for (size_t i = 0; i < largest.n; i++)
        log_site(best[i]);
    lw_hooks_guard(false);
}

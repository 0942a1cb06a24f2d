/*
 * drain.c - the master's cost per cycle (DESIGN.md "Targets": drain + detect,
 * 64 workers x 10,000 sites, <= 5 ms). One thread pushes the engine's records
 * (HELLO, ENDPOINT, SITE + TEXT, DELTA) for every worker, then drains and
 * judges as lw_master_drain()/lw_master_judge() do; only that part is timed.
 * All workers define the same 10,000 sites, so the aggregator dedupes them;
 * most are library lines rolled up to one of 500 application lines.
 *
 * A ring holds 8192 records, fewer than 10,000 deltas: the worst case pushes
 * the rest once the rings are drained and times both drains as one cycle,
 * like a drain kept busy by concurrent pushes (up to LW_DRAIN_MAX a worker).
 * Exits 1 when the setup is wrong (records lost, totals not what was pushed,
 * a leak not flagged, a flat site flagged), never because of timing.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugin/engine.h" /* LW_ENGINE_SITES, LW_ENGINE_ENDPOINTS */
#include "agg.h"
#include "config.h"
#include "detect.h"
#include "shm.h"

/* As in plugin/analyst.c and plugin/plugin.c. */
#define RING_RECORDS 8192
#define DRAIN_BATCH 512
#define DRAIN_MAX 65536
#define ALERTS_MAX 16
#define MAX_SITES 65536
#define SUM_LINES 5 /* lines a sum's alert lists (src/alerttext.c) */
#define MAX_ENDPOINTS 4096

#define NWORKERS 64
#define NSITES 10000
#define NAPP 500        /* application lines library sites are reached from */
#define NLEAKS 8        /* sites 1249 j + 5 (j < 8) grow and never shrink */
#define NENDPOINTS 32
#define CYCLES 300
#define TEXT_MAX 2048   /* the engine's SITE_TEXT_MAX */
#define NONE UINT32_MAX

static lw_shm_t *shm;
static lw_agg_t *agg;
static int64_t unit;                     /* one sample's weight: the sampling interval */
static uint8_t up[NWORKERS + 1][NSITES]; /* a flat share is one sample above its base */
static int64_t expect[NSITES + NAPP];    /* bytes pushed per site, then per rollup */
static uint32_t alerted[NSITES + NAPP], stray_alerts, nrollups;
static bool leaky[NSITES + NAPP];        /* what the detector must flag */
static uint64_t pushed_records, pushed_deltas, drained_records;
static size_t mem_now, mem_peak;         /* bytes the aggregator asked for */

static bool is_leak(uint32_t i) { return i % 1249 == 5 && i / 1249 < NLEAKS; }
static bool is_big(uint32_t i) { return i % 40 == 3; } /* 4 more samples in each worker */
static bool is_app(uint32_t i) { return i % 4 == 0; }  /* the allocating line is the app's */
static bool no_app(uint32_t i) { return i % 20 == 1; } /* no application frame at all */
static bool rolls_up(uint32_t i) { return !is_app(i) && !no_app(i); }

static void die(const char *why)
{
    fprintf(stderr, "drain: setup failed: %s\n", why);
    exit(1);
}

/* calloc that counts what the aggregator asks for (malloc's overhead aside). */
static void *count_calloc(size_t n, size_t size)
{
    size_t hdr = sizeof(max_align_t), bytes = n * size;
    char *p = size && n > (SIZE_MAX - hdr) / size ? NULL : calloc(1, hdr + bytes);

    if (p) {
        memcpy(p, &bytes, sizeof(bytes));
        mem_now += bytes;
        mem_peak = mem_now > mem_peak ? mem_now : mem_peak;
    }
    return p ? p + hdr : NULL;
}

static void count_free(void *ptr)
{
    size_t bytes;

    if (ptr) {
        memcpy(&bytes, (char *)ptr - sizeof(max_align_t), sizeof(bytes));
        mem_now -= bytes;
        free((char *)ptr - sizeof(max_align_t));
    }
}

#define LIB "/srv/app/.venv/lib/python3.11/site-packages/vendor/mod_%03u.py"
#define VIEW "/srv/app/app/views_%03u.py"
#define ROUTE "/srv/app/app/routes_%03u.py"
#define FLASK "|/srv/app/.venv/lib/python3.11/site-packages/flask/app.py"

/* Site i's identity text as a worker's lw_wire_encode_site() lays it out: file,
 * function, app file, app function, then file|line|function per frame,
 * innermost first; '|' is '\0'. */
static uint32_t identity(uint32_t i, char *t, int32_t *line, int32_t *app_line)
{
    uint32_t mod = i / 50, k = i % NAPP, f = i % 50;
    const char *fn = is_app(i) ? "handler" : "func";
    char file[96], app[128] = "|", via[128] = "";
    int n;

    *line = 10 + 7 * (int32_t)f;
    *app_line = is_app(i) ? *line : rolls_up(i) ? 1000 + (int32_t)k : 0;
    snprintf(file, sizeof(file), is_app(i) ? VIEW : LIB, mod);
    if (is_app(i))
        snprintf(app, sizeof(app), "%s|handler_%u", file, f);
    if (rolls_up(i)) {
        snprintf(app, sizeof(app), ROUTE "|route_%u", k / 10, k);
        snprintf(via, sizeof(via), "|" ROUTE "|%d|route_%u", k / 10, *app_line, k);
    }
    n = snprintf(t, TEXT_MAX, "%s|%s_%u|%s|%s|%d|%s_%u%s" FLASK "|1799|dispatch_request" FLASK
                 "|1823|full_dispatch_request" FLASK "|2190|wsgi_app", file, fn, f, app, file,
                 *line, fn, f, via);
    for (char *c = t; c < t + n; c++)
        *c = *c == '|' ? '\0' : *c;
    return (uint32_t)n + 1; /* the last field's '\0' too */
}

/* The bench's index of an aggregated site: i, or NSITES + k for app line k's rollup. */
static uint32_t decode(const lw_agg_site_t *s)
{
    const char *u = strrchr(lw_agg_field(s, 0), '_');
    uint32_t at = NONE;

    if (s->rollup)
        at = NSITES + (uint32_t)(s->line - 1000);
    else if (u && s->line >= 10)
        at = (uint32_t)atoi(u + 1) * 50 + (uint32_t)(s->line - 10) / 7;
    return at < NSITES + NAPP && s->rollup == (at >= NSITES) ? at : NONE;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* lw_master_drain(): every ring in batches, at most DRAIN_MAX records each. */
static void master_drain(void)
{
    static lw_record_t buf[DRAIN_BATCH];

    for (uint32_t wid = 1; wid <= NWORKERS; wid++) {
        uint64_t n, total = 0;
        while (total < DRAIN_MAX && (n = lw_ring_pop(lw_shm_ring(shm, wid), buf, DRAIN_BATCH))) {
            lw_agg_feed(agg, wid, buf, n);
            total += n;
        }
        drained_records += total;
    }
}

/* lw_master_judge(): requests from the slots, warm-up, judge until no alert is left. */
static void master_judge(void)
{
    lw_alert_t alerts[ALERTS_MAX];
    uint64_t requests = 0;
    uint32_t live = 0;
    size_t n;

    for (uint32_t wid = 1; wid <= NWORKERS; wid++) {
        lw_worker_view_t view;
        if (lw_shm_read(shm, wid, &view) == 0 && view.pid != 0) {
            requests += view.requests;
            live++;
        }
    }
    if (live == 0 || requests < LW_WARMUP_DEFAULT * live)
        return;
    do {
        n = lw_agg_judge(agg, requests, alerts, ALERTS_MAX);
        for (size_t i = 0; i < n; i++) {
            lw_agg_line_t lines[SUM_LINES] = {{.id = alerts[i].site}};
            uint32_t nlines;
            int64_t total;
            size_t named = 1;
            /* a function's or file's sum names the lines that grew, most first */
            if (lw_agg_site(agg, lines[0].id)->kind != LW_AGG_LINE)
                named = lw_agg_lines_of(agg, alerts[i].site, lines, SUM_LINES, &nlines, &total);
            for (size_t k = 0; k < named; k++) {
                uint32_t at = decode(lw_agg_site(agg, lines[k].id));
                if (at == NONE)
                    stray_alerts++;
                else if (k == 0 || leaky[at]) /* a listed flat line is named, not flagged */
                    alerted[at]++;
            }
        }
    } while (n == ALERTS_MAX);
}

/* Pushes a group all or nothing, as the engine does; a full ring is drained first. */
static void push(uint32_t w, const lw_record_t *recs, uint32_t n)
{
    if (lw_ring_push(lw_shm_ring(shm, w), recs, n) < 0) {
        master_drain();
        if (lw_ring_push(lw_shm_ring(shm, w), recs, n) < 0)
            die("a group does not fit in an empty ring");
    }
    pushed_records += n;
}

/* Pushes a message's records (wire.h's encoder) as one group. */
static void push_msg(uint32_t w, const lw_wire_msg_t *m)
{
    static lw_record_t g[LW_WIRE_RECORDS(TEXT_MAX)];
    int n = lw_wire_encode(g, sizeof(g) / sizeof(g[0]), m);

    if (n < 0)
        die("a message does not encode");
    push(w, g, (uint32_t)n);
}

/* Pushes a DELTA for site i (local id i + 1: 0 is the worker's overflow site). */
static void push_delta(uint32_t w, uint32_t i, int64_t bytes, uint32_t endpoint)
{
    lw_wire_msg_t m = {.kind = LW_REC_DELTA, .id = i + 1,
                       .u.delta = {bytes, bytes / unit * LW_COUNT_ONE, endpoint}};

    expect[i] += bytes;
    expect[NSITES + i % NAPP] += rolls_up(i) ? bytes : 0;
    pushed_deltas++;
    push_msg(w, &m);
}

/* A worker's warm-up: HELLO, endpoints, every site with its first delta, then
 * half of the flat sites' samples freed again (which half differs by worker). */
static void introduce(uint32_t w)
{
    char text[TEXT_MAX];

    lw_shm_claim(shm, w, (int32_t)(10000 + w), 1);
    for (int r = 0; r < LW_WARMUP_DEFAULT; r++)
        lw_core_count_hooksafe(lw_shm_core(shm, w, 0));
    push_msg(w, &(lw_wire_msg_t){.kind = LW_REC_HELLO, .u.hello = {10000 + w, 1, 1}});
    for (uint32_t e = 1; e <= NENDPOINTS; e++) {
        int len = snprintf(text, sizeof(text), "/api/v1/resource%u/<id>", e);
        push_msg(w, &(lw_wire_msg_t){.kind = LW_REC_ENDPOINT, .id = e, .text = text,
                                     .text_len = (uint32_t)len});
    }
    for (uint32_t i = 0; i < NSITES; i++) {
        lw_wire_msg_t site = {.kind = LW_REC_SITE, .id = i + 1, .text = text};
        site.text_len = identity(i, text, &site.u.site.line, &site.u.site.app_line);
        site.u.site.nframes = rolls_up(i) ? 5 : 4;
        push_msg(w, &site);
        push_delta(w, i, (is_big(i) ? 5 : 1) * unit, 1 + i % NENDPOINTS);
        up[w][i] = !is_leak(i) && (w + i) % 2;
        if (!is_leak(i) && !up[w][i])
            push_delta(w, i, -unit, 1);
    }
}

/* Worker w's touch j in cycle c: a site or NONE. Worst case: every site.
 * Typical: each leak every 4th request, and a window of 42 flat sites. */
static uint32_t touched(uint32_t touches, uint32_t c, uint32_t w, uint32_t j)
{
    uint32_t s = (c * 50 + w * 157 + j - NLEAKS) % NSITES;

    if (touches == NSITES)
        return j;
    if (j < NLEAKS)
        return (c + w + j) % 4 == 0 ? 1249 * j + 5 : NONE;
    return is_leak(s) ? NONE : s;
}

/* Worker w pushes cycle c's deltas from touch *next on; false once all are in. */
static bool produce(uint32_t touches, uint32_t c, uint32_t w, uint32_t *next)
{
    for (; *next < touches; ++*next) {
        uint32_t s = touched(touches, c, w, *next);
        if (s == NONE)
            continue;
        if (lw_ring_space(lw_shm_ring(shm, w)) == 0)
            return true; /* the rest waits for the next drain */
        up[w][s] ^= !is_leak(s);
        push_delta(w, s, is_leak(s) || up[w][s] ? unit : -unit, 1 + (c + w) % NENDPOINTS);
    }
    return false;
}

/* One cycle; returns the master's nanoseconds (drains + judge), judge's in *judge. */
static uint64_t cycle(uint32_t touches, uint32_t requests, uint32_t c, uint64_t *judge)
{
    uint32_t next[NWORKERS + 1] = {0};
    uint64_t drain = 0, t0;
    bool more = true;

    for (uint32_t w = 1; w <= NWORKERS; w++) {
        for (uint32_t r = 0; r < requests; r++)
            lw_core_count_hooksafe(lw_shm_core(shm, w, 0));
    }
    while (more) {
        more = false;
        for (uint32_t w = 1; w <= NWORKERS; w++)
            more |= produce(touches, c, w, &next[w]);
        t0 = now_ns();
        master_drain();
        drain += now_ns() - t0;
    }
    t0 = now_ns();
    master_judge();
    *judge = now_ns() - t0;
    return drain + *judge;
}

/* Totals and verdicts are what was pushed: the master really did the work. */
static void check(void)
{
    static bool seen[NSITES + NAPP];
    lw_agg_stats_t st;

    memset(seen, 0, sizeof(seen));
    lw_agg_stats(agg, &st);
    if (st.malformed || st.overflowed || st.deltas != pushed_deltas || stray_alerts ||
        drained_records != pushed_records)
        die("records malformed or lost, sites overflowed, or alerts on unknown sites");
    static int64_t summed[MAX_SITES];
    uint32_t nsums = 0;
    memset(summed, 0, sizeof(summed));
    for (uint32_t id = 1; id < st.sites; id++) { /* a sum holds what its leaves do */
        const lw_agg_site_t *s = lw_agg_site(agg, id);
        nsums += s->kind != LW_AGG_LINE;
        if (s->kind == LW_AGG_LINE && !s->rollup) {
            summed[s->function_of] += s->live;
            summed[s->file_of] += s->live;
        }
    }
    if (st.sites != 1 + NSITES + nrollups + nsums || st.endpoints != 1 + NENDPOINTS)
        die("unexpected number of sites or endpoints");
    for (uint32_t id = 1; id < st.sites; id++) {
        const lw_agg_site_t *s = lw_agg_site(agg, id);
        uint32_t at = decode(s);
        int64_t sum = 0;
        if (s->kind != LW_AGG_LINE) {
            if (s->live != summed[id])
                die("a sum's live bytes are not those of its lines");
            continue;
        }
        for (uint32_t w = 1; w <= NWORKERS; w++)
            sum += lw_agg_share(agg, id, w);
        if (at == NONE || seen[at] || s->live != expect[at] || sum != s->live)
            die("a site's live bytes are not the sum of its deltas");
        seen[at] = true;
    }
    for (uint32_t at = 0; at < NSITES + NAPP; at++) {
        if (leaky[at] ? alerted[at] == 0 : alerted[at] != 0)
            die(leaky[at] ? "a leak was not flagged" : "a flat site was flagged");
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static void run(const char *name, uint32_t touches, uint32_t requests, const lw_agg_cfg_t *acfg,
                size_t size)
{
    static const lw_alloc_t alloc = {count_calloc, count_free};
    static uint64_t ns[CYCLES], judge[CYCLES];
    uint64_t intro = now_ns(), before, nalerts = 0;
    uint32_t ndet = 0;

    memset(expect, 0, sizeof(expect));
    memset(alerted, 0, sizeof(alerted));
    memset(shm, 0, size);
    pushed_records = pushed_deltas = drained_records = mem_peak = 0;
    if (lw_shm_init(shm, size, NWORKERS, 1, RING_RECORDS) < 0 || !(agg = lw_agg_new(acfg, &alloc)))
        die("lw_shm_init or lw_agg_new failed");
    for (uint32_t w = 1; w <= NWORKERS; w++)
        introduce(w);
    master_drain();
    master_judge();
    intro = now_ns() - intro;
    before = pushed_deltas;
    for (uint32_t c = 0; c < CYCLES; c++)
        ns[c] = cycle(touches, requests, c, &judge[c]);
    check();
    for (uint32_t at = 0; at < NSITES + NAPP; at++)
        nalerts += alerted[at];
    for (uint32_t id = 1; lw_agg_site(agg, id); id++)
        ndet += lw_agg_site(agg, id)->det != NULL;
    qsort(ns, CYCLES, sizeof(ns[0]), cmp_u64);
    qsort(judge, CYCLES, sizeof(judge[0]), cmp_u64);
    printf("%-27s %8.0f %7.3f %7.3f %7.3f %7.3f %5u %6llu %6.1f %6.1f %6.0f\n", name,
           (double)(pushed_deltas - before) / CYCLES, ns[CYCLES / 2] / 1e6,
           ns[(CYCLES * 99 + 99) / 100 - 1] / 1e6, ns[CYCLES - 1] / 1e6, judge[CYCLES / 2] / 1e6,
           ndet, (unsigned long long)nalerts, mem_now / 1048576.0, mem_peak / 1048576.0,
           intro / 1e6);
    lw_agg_free(agg);
    if (mem_now != 0)
        die("lw_agg_free did not give back everything");
}

int main(void)
{
    size_t size = lw_shm_size(NWORKERS, 1, RING_RECORDS);
    bool has_rollup[NAPP] = {false};
    lw_config_t cfg;

    lw_config_init(&cfg);
    unit = (int64_t)lw_config_sample_interval(&cfg);
    lw_agg_cfg_t acfg = {/* as lw_master_make_agg() */
        .procs = {.workers = NWORKERS}, .max_sites = MAX_SITES, .local_sites = LW_ENGINE_SITES,
        .local_endpoints = LW_ENGINE_ENDPOINTS, .max_endpoints = MAX_ENDPOINTS,
        .detect = {(int64_t)cfg.threshold, LW_DETECT_CONFIRM, unit}};
    for (uint32_t j = 0, i = 5; j < NLEAKS; j++, i += 1249)
        leaky[rolls_up(i) ? NSITES + i % NAPP : i] = true; /* a rollup is judged, not its leaf */
    for (uint32_t i = 0; i < NSITES; i++)
        has_rollup[i % NAPP] |= rolls_up(i);
    for (uint32_t k = 0; k < NAPP; k++)
        nrollups += has_rollup[k];
    shm = size ? aligned_alloc(64, size) : NULL;
    if (!shm)
        die("no memory for the rings");
    printf("master drain + judge per cycle: %d workers x %d sites (%d leak), %d cycles; one\n"
           "thread pushes for the workers, then times the master's drain + judge only.\n"
           "rings %d records, threshold %lld KiB, sampling %lld KiB (plugin defaults)\n\n",
           NWORKERS, NSITES, NLEAKS, CYCLES, RING_RECORDS, (long long)cfg.threshold >> 10,
           (long long)unit >> 10);
    printf("%-27s %8s %7s %7s %7s %7s %5s %6s %6s %6s %6s\n", "scenario", "deltas/c", "med ms",
           "p99 ms", "max ms", "judge", "det", "alerts", "MiB", "peak", "intro");
    run("worst: all sites, 8 req/w", NSITES, 8, &acfg, size);
    run("typical: 1 req/w, ~44 sites", NLEAKS + 42, 1, &acfg, size);
    printf("\njudge: its median share (ms); det: sites holding detector state; MiB, peak: the\n"
           "aggregator's calloc'd bytes; intro: ms to take in every worker's sites (not a cycle)\n"
           "checks passed: no record lost, live = deltas pushed, leaks flagged, flat not\n");
    free(shm);
    return 0;
}

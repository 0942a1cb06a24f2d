/*
 * model.c - make eval, third part: the detector's trade-off, computed.
 *
 * The master's real aggregator and detector (src/agg.c, src/detect.c) are
 * fed the deltas two workers would publish for shapes of growth whose
 * truth is known, sampled as the workers' sampler samples (a block of b
 * bytes is kept with probability 1 - exp(-b/R) and weighs b over that),
 * and judged every few requests as the analyst does. Hundreds of seeded
 * runs a shape give what one make eval run cannot: how the moment of an
 * alert is spread, and how often a shape that is no leak is reported.
 *
 * The shapes: a leak of b bytes a request of which the allocator sees a
 * fraction (the rest revived from CPython's free lists, make eval's "seen"
 * figures: 0.7-1.0), counted in all from its first request; the same under
 * cyclic garbage that Python's collections and leakwatch's gc policy free
 * in drops (the Django view's shape), or after a step of lazy
 * initialisation; a cache filled by coupon-collector traffic (fill.py's
 * app) up to a bound of m T for the server; and per-worker sawtooth
 * buffers of 0.75 T filling in phase (the plateau test). Every number printed is "leaked in all at the alert", in
 * T, and how many of the runs alerted at all.
 *
 * Each shape is one line of one function of one file: its sums hold what
 * it holds, and the line, announced first, is never held for the workers'
 * collections (agg.h, Gates; cfg.gate stays off here).
 *
 * Deterministic (fixed seeds). Options: --divisor N (the sampling interval
 * is T/N, the plugin's default 256), --runs N (default 400), --look N
 * (requests between the analyst's looks, default 20: about its 20 ms at
 * make eval's request rates). Exits 1 only if the aggregator refuses input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "config.h"
#include "detect.h"
#include "gcpolicy.h"
#include "sampler.h"
#include "wire.h"

#define T_BYTES (1 << 20)
#define WORKERS 2
#define MAX_RUNS 4000

/* the gc policy's settings: the plugin's defaults at this threshold */
static const lw_config_t gc_cfg = {.threshold = T_BYTES, .gc = LW_GC_AUTO};
#define ALERTS_MAX 8
#define FILE_NAME "/srv/model.py"

static int64_t interval;         /* R */
static uint32_t runs = 400, look = 20;
static uint64_t rng;

static double uniform(void) /* xorshift64*, [0, 1) */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

/* What the sampler's estimate gains for one block of b bytes (its
 * probability is the sampler's own). */
static int64_t sampled(double b)
{
    double p = lw_sampler_one_minus_exp_neg(b / (double)interval);

    return uniform() < p ? (int64_t)(b / p + 0.5) : 0;
}

static void die(const char *why)
{
    fprintf(stderr, "model: %s\n", why);
    exit(1);
}

static void *model_calloc(size_t n, size_t size) { return calloc(n, size); }
static const lw_alloc_t alloc = {model_calloc, free};

static lw_record_t recs[64];
static size_t nrecs;

static void put(const lw_wire_msg_t *m)
{
    int n = lw_wire_encode(&recs[nrecs], sizeof(recs) / sizeof(recs[0]) - nrecs, m);

    if (n < 0)
        die("a message does not encode");
    nrecs += (size_t)n;
}

static void feed(lw_agg_t *agg, uint32_t wid)
{
    if (lw_agg_feed(agg, wid, recs, nrecs) < 0)
        die("the aggregator refused a feed");
    nrecs = 0;
}

/* A worker's HELLO and its one site, line 1 of FILE_NAME. */
static void introduce(lw_agg_t *agg, uint32_t wid)
{
    const lw_wire_site_t s = {.id = 1, .line = 1, .app_line = 1, .file = FILE_NAME, .func = "f"};
    int n;

    put(&(lw_wire_msg_t){.kind = LW_REC_HELLO, .u.hello = {1000 + wid, 1, 1}});
    n = lw_wire_encode_site(&recs[nrecs], sizeof(recs) / sizeof(recs[0]) - nrecs, &s);
    if (n < 0)
        die("the site does not encode");
    nrecs += (size_t)n;
    feed(agg, wid);
}

/* A request's change, and then what a collection freed (its own delta,
 * marked, as the worker publishes it: wire.h). */
static void publish(lw_agg_t *agg, uint32_t wid, int64_t bytes, int64_t collected)
{
    if (bytes)
        put(&(lw_wire_msg_t){.kind = LW_REC_DELTA, .id = 1, .u.delta = {bytes, 0, 0}});
    if (collected)
        put(&(lw_wire_msg_t){.kind = LW_REC_DELTA, .id = 1,
                             .u.delta = {-collected, 0, 0, LW_DELTA_COLLECTED}});
    if (bytes || collected)
        feed(agg, wid);
}

/* One shape: a worker's request adds or drops true bytes, and says what its
 * estimate moved by. */
typedef struct shape {
    const char *name;
    int kind;            /* LEAK, COUPON, SAWTOOTH */
    double bytes;        /* a leak's bytes a request; a fill's item; a sawtooth's step */
    double seen;         /* the share the allocator sees (a leak) */
    double bound;        /* a fill's or a sawtooth's bound per worker, in T; for a
                          * leak, a step the server takes at each worker's 500th
                          * request (lazy initialisation: not counted as leaked) */
    double garbage;      /* a leak's cyclic garbage a request, collected every 25 or so */
} shape_t;

enum { LEAK, COUPON, SAWTOOTH };

typedef struct worker {
    double truth;
    int64_t estimate;
    int64_t trash_estimate; /* the estimate of garbage not yet collected */
    int64_t collected;   /* what a collection freed in this request */
    lw_gcpolicy_t gc;    /* leakwatch's gc policy, as the worker's (gcpolicy.h) */
    uint64_t served, served_leak;
    uint32_t until_gc;
    uint8_t *have;       /* a coupon fill's keys */
} worker_t;

/* Worker w serves a request of shape s; returns its estimate's change. */
static int64_t serve(const shape_t *s, worker_t *w)
{
    int64_t before = w->estimate;

    switch (s->kind) {
    case LEAK:
        if (s->bound > 0 && ++w->served_leak == 500) { /* lazy initialisation: a step */
            w->truth += s->bound * T_BYTES / WORKERS;
            w->estimate += sampled(s->bound * T_BYTES / WORKERS);
        }
        w->truth += s->bytes;
        w->estimate += sampled(s->bytes * s->seen);
        if (s->garbage > 0) {
            /* collected by Python every 13-37 requests, or by leakwatch's
             * gc policy (gcpolicy.h), which counts from its own last */
            w->served++;
            bool policy = lw_gcpolicy_due(&w->gc, &gc_cfg, w->served, w->estimate);
            if (w->until_gc-- == 0 || policy) {
                w->estimate -= w->trash_estimate;
                w->collected = w->trash_estimate; /* published apart (wire.h) */
                before -= w->trash_estimate;
                if (policy)
                    lw_gcpolicy_collected(&w->gc, w->served, w->estimate);
                w->trash_estimate = 0;
                w->until_gc = 13 + (uint32_t)(uniform() * 25);
            }
            int64_t g = sampled(s->garbage);
            w->trash_estimate += g;
            w->estimate += g;
        }
        break;
    case COUPON: {
        uint32_t keys = (uint32_t)(s->bound * T_BYTES / s->bytes);
        uint32_t k = (uint32_t)(uniform() * keys);
        if (!w->have[k]) {
            w->have[k] = 1;
            w->truth += s->bytes;
            w->estimate += sampled(s->bytes);
        }
        break;
    }
    case SAWTOOTH:
        if (w->truth + s->bytes > s->bound * T_BYTES) { /* the buffer is emptied */
            w->truth = 0;
            w->estimate = 0;
        }
        else {
            w->truth += s->bytes;
            w->estimate += sampled(s->bytes);
        }
        break;
    }
    return w->estimate - before;
}

/* Requests a run of shape s serves: a leak until 8 T; a fill until full
 * but for a chance of 1 in 150 a worker; a sawtooth 20,000. */
static uint64_t requests_of(const shape_t *s)
{
    if (s->kind == LEAK)
        return (uint64_t)(8.0 * T_BYTES / s->bytes);
    if (s->kind == COUPON) {
        double keys = s->bound * T_BYTES / s->bytes;
        return (uint64_t)(WORKERS * keys * (log(keys) + 5));
    }
    return 20000;
}

/* One seeded run: leaked in all (T) at the first LEAK alert, or -1. */
static double run(const shape_t *s, uint32_t seed)
{
    lw_agg_cfg_t cfg = {.procs = {.workers = WORKERS}, .max_sites = 64, .local_sites = 16,
                        .local_endpoints = 16, .max_endpoints = 16,
                        .detect = {T_BYTES, LW_DETECT_CONFIRM, interval}};
    worker_t w[WORKERS + 1] = {{0}};
    lw_alert_t alerts[ALERTS_MAX];
    uint64_t n = requests_of(s), next_look = 0;
    double found = -1.0;
    lw_agg_t *agg = lw_agg_new(&cfg, &alloc);

    if (!agg)
        die("no memory for the aggregator");
    rng = 0x9E3779B97F4A7C15ULL * (seed + 1);
    for (uint32_t k = 1; k <= WORKERS; k++) {
        introduce(agg, k);
        if (s->kind == COUPON && !(w[k].have = calloc((size_t)(s->bound * T_BYTES / s->bytes) + 1, 1)))
            die("no memory for a fill's keys");
    }
    for (uint64_t r = 1; r <= n && found < 0; r++) {
        uint32_t k = 1 + (uint32_t)(uniform() * WORKERS);
        w[k].collected = 0;
        int64_t change = serve(s, &w[k]);
        publish(agg, k, change, w[k].collected);
        if (r < next_look)
            continue;
        next_look = r + look / 2 + (uint64_t)(uniform() * look);
        size_t nalerts = lw_agg_judge(agg, r, alerts, ALERTS_MAX);
        if (nalerts) { /* a LEAK */
            double truth = 0;
            for (uint32_t j = 1; j <= WORKERS; j++)
                truth += w[j].truth;
            found = s->kind == LEAK ? (double)r * s->bytes / T_BYTES : truth / T_BYTES;
        }
    }
    for (uint32_t k = 1; k <= WORKERS; k++)
        free(w[k].have);
    lw_agg_free(agg);
    return found;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void row(const shape_t *s)
{
    static double at[MAX_RUNS];
    uint32_t alerted = 0;

    for (uint32_t i = 0; i < runs; i++) {
        double v = run(s, i);
        if (v >= 0)
            at[alerted++] = v;
    }
    printf("%-34s %5u of %-5u", s->name, alerted, runs);
    if (alerted) {
        qsort(at, alerted, sizeof(at[0]), by_value);
        uint32_t past = 0;
        for (uint32_t i = 0; i < alerted; i++)
            past += at[i] > 2.0;
        printf(" %6.2f %6.2f %6.2f %6.2f %6.2f %7u", at[0], at[alerted / 10], at[alerted / 2],
               at[alerted * 9 / 10], at[alerted - 1], past);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    uint32_t divisor = LW_SAMPLE_DIVISOR;
    static const shape_t shapes[] = {
        {"leak 64 B a request, all seen", LEAK, 64, 1.0, 0, 0},
        {"leak 500 B a request, all seen", LEAK, 500, 1.0, 0, 0},
        {"leak 4 KiB a request, all seen", LEAK, 4096, 1.0, 0, 0},
        {"leak 500 B a request, 0.9 seen", LEAK, 500, 0.9, 0, 0},
        {"leak 500 B a request, 0.8 seen", LEAK, 500, 0.8, 0, 0},
        {"leak 500 B a request, 0.7 seen", LEAK, 500, 0.7, 0, 0},
        {"leak 3 KiB under 38 KiB of garbage", LEAK, 3072, 1.0, 0, 38912},
        {"leak 500 B after a step of 0.25 T", LEAK, 500, 1.0, 0.25, 0},
        {"leak 500 B after a step of 0.5 T", LEAK, 500, 1.0, 0.5, 0},
        {"leak 500 B after a step of 1 T", LEAK, 500, 1.0, 1.0, 0},
        {"coupon fill, bound 1.5 T", COUPON, 4096, 1.0, 0.75, 0},
        {"coupon fill, bound 2 T", COUPON, 4096, 1.0, 1.0, 0},
        {"coupon fill, bound 3 T", COUPON, 4096, 1.0, 1.5, 0},
        {"coupon fill, bound 4 T", COUPON, 4096, 1.0, 2.0, 0},
        {"coupon fill, bound 6 T", COUPON, 4096, 1.0, 3.0, 0},
        {"coupon fill, bound 8 T", COUPON, 4096, 1.0, 4.0, 0},
        {"sawtooths 2 x 0.6 T, in phase", SAWTOOTH, 1000, 1.0, 0.6, 0},
        {"sawtooths 2 x 0.65 T, in phase", SAWTOOTH, 1000, 1.0, 0.65, 0},
        {"sawtooths 2 x 0.7 T, in phase", SAWTOOTH, 1000, 1.0, 0.7, 0},
        {"sawtooths 2 x 0.75 T, in phase", SAWTOOTH, 1000, 1.0, 0.75, 0},
    };

    for (int i = 1; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (v < 1 || (!strcmp(argv[i], "--runs") && v > MAX_RUNS))
            die("a value out of range");
        if (!strcmp(argv[i], "--divisor"))
            divisor = (uint32_t)v;
        else if (!strcmp(argv[i], "--runs"))
            runs = (uint32_t)v;
        else if (!strcmp(argv[i], "--look"))
            look = (uint32_t)v;
        else
            die("options: --divisor N, --runs N, --look N");
    }
    if (argc % 2 == 0)
        die("options: --divisor N, --runs N, --look N");
    interval = T_BYTES / divisor > 0 ? T_BYTES / divisor : 1;
    printf("the detector's model: two workers, T = 1 MiB, sampling interval T/%u, a look every\n"
           "%u requests or so, %u seeded runs a shape; leaked in all at the first alert, in T\n\n",
           divisor, look, runs);
    printf("%-34s %-14s %6s %6s %6s %6s %6s %7s\n", "shape", "alerted", "min", "p10", "median",
           "p90", "max", "past 2T");
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        row(&shapes[i]);
    return 0;
}

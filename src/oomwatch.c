#include "oomwatch.h"

#include <errno.h>
#include <string.h>

#include "memlimit.h"

/* A warning again only once the ETA is this many times nearer than the
 * one last said. */
#define REWARN_FACTOR 2

/* One worker slot: its current generation's readings, oldest first. */
struct track {
    int64_t pid;               /* the generation; 0 before the first look */
    uint32_t n;
    double t[LW_OOM_POINTS], rss[LW_OOM_POINTS];
    double rate;               /* the trend at the last reading */
    uint64_t eta;              /* this round's, for the metrics */
    uint64_t warned_eta;       /* the ETA last warned about, this generation; 0 = none */
    int64_t warned_pid;        /* the generation the last warning was about */
};

struct lw_oomwatch {
    lw_alloc_t alloc;
    lw_oomwatch_cfg_t cfg;
    uint32_t nworkers;
    double now;                /* the round's time */
    double total_rss, total_rate; /* this round's looks, summed */
    uint64_t shared_warned_eta; /* the shared limit's cadence: never reset */
    struct track *tracks;      /* [nworkers + 1]; [0] unused */
};

lw_oomwatch_t *lw_oomwatch_new(const lw_alloc_t *alloc, uint32_t nworkers,
                               const lw_oomwatch_cfg_t *cfg)
{
    lw_oomwatch_t *ow;

    if (nworkers == 0 || !(ow = alloc->calloc(1, sizeof(*ow))))
        return NULL;
    ow->alloc = *alloc;
    ow->cfg = *cfg;
    ow->nworkers = nworkers;
    ow->tracks = alloc->calloc((size_t)nworkers + 1, sizeof(struct track));
    if (!ow->tracks) {
        alloc->free(ow);
        return NULL;
    }
    return ow;
}

void lw_oomwatch_free(lw_oomwatch_t *ow)
{
    if (!ow)
        return;
    ow->alloc.free(ow->tracks);
    ow->alloc.free(ow);
}

void lw_oomwatch_begin(lw_oomwatch_t *ow, double now_s)
{
    ow->now = now_s;
    ow->total_rss = ow->total_rate = 0.0;
    for (uint32_t wid = 1; wid <= ow->nworkers; wid++)
        ow->tracks[wid].eta = 0;
}

/* Warn once below the horizon, and again only when the ETA has halved;
 * *warned is the ETA last warned about (0 = none), updated on a warning. */
static bool due(uint64_t eta, uint64_t horizon, uint64_t *warned)
{
    if (!eta || eta >= horizon || (*warned && eta * REWARN_FACTOR > *warned))
        return false;
    *warned = eta;
    return true;
}

/* Adds a reading at the end of the window, the oldest going when it is full. */
static void add_point(struct track *r, double t, double rss)
{
    if (r->n == LW_OOM_POINTS) {
        memmove(r->t, r->t + 1, sizeof(double) * (LW_OOM_POINTS - 1));
        memmove(r->rss, r->rss + 1, sizeof(double) * (LW_OOM_POINTS - 1));
        r->n--;
    }
    r->t[r->n] = t;
    r->rss[r->n] = rss;
    r->n++;
}

lw_oom_t lw_oomwatch_look(lw_oomwatch_t *ow, uint32_t wid, int64_t pid, uint64_t rss)
{
    lw_oom_t out = {0};
    struct track *r;

    if (wid == 0 || wid > ow->nworkers)
        return out;
    r = &ow->tracks[wid];
    if (pid != r->pid) { /* a new generation: its own series (warned_pid stays for LAST WORDS) */
        r->pid = pid;
        r->n = 0;
        r->rate = 0.0;
        r->warned_eta = 0;
    }
    add_point(r, ow->now, (double)rss);
    r->rate = r->n >= LW_OOM_TREND_POINTS ? lw_trend_slope(r->t, r->rss, r->n) : 0.0;
    ow->total_rss += (double)rss;
    ow->total_rate += r->rate;
    out.rss = rss;
    out.rate = r->rate;
    if (!ow->cfg.limit || ow->cfg.shared)
        return out;
    out.eta = r->eta = lw_oom_eta(rss, ow->cfg.limit, r->rate);
    out.warn = due(out.eta, ow->cfg.horizon, &r->warned_eta);
    if (out.warn)
        r->warned_pid = pid;
    return out;
}

lw_oom_t lw_oomwatch_end(lw_oomwatch_t *ow)
{
    lw_oom_t out = {0};

    if (!ow->cfg.limit || !ow->cfg.shared)
        return out;
    out.rss = (uint64_t)ow->total_rss;
    out.rate = ow->total_rate;
    out.eta = lw_oom_eta(out.rss, ow->cfg.limit, out.rate);
    for (uint32_t wid = 1; wid <= ow->nworkers; wid++)
        ow->tracks[wid].eta = out.eta;
    out.warn = due(out.eta, ow->cfg.horizon, &ow->shared_warned_eta);
    return out;
}

uint64_t lw_oomwatch_eta(const lw_oomwatch_t *ow, uint32_t wid)
{
    return wid && wid <= ow->nworkers ? ow->tracks[wid].eta : 0;
}

int lw_oomwatch_last(const lw_oomwatch_t *ow, uint32_t wid, int64_t pid, uint64_t *rss,
                     double *rate)
{
    const struct track *r;

    if (wid == 0 || wid > ow->nworkers)
        return -EINVAL;
    r = &ow->tracks[wid];
    if (r->pid != pid || r->n == 0)
        return -ENOENT;
    *rss = (uint64_t)r->rss[r->n - 1];
    *rate = r->rate;
    return 0;
}

bool lw_oomwatch_warned(const lw_oomwatch_t *ow, uint32_t wid, int64_t pid)
{
    return wid && wid <= ow->nworkers && ow->tracks[wid].warned_pid == pid;
}

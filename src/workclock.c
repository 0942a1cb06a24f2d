#include "workclock.h"

#include <stddef.h>

#include "points.h"

static uint64_t axis(const lw_workclock_t *c, uint64_t requests)
{
    return requests + c->active_us / LW_WORKCLOCK_TICK_US;
}

/* Keeps the newest point last and the history even (points.h). */
static void add_point(lw_workclock_t *c, lw_workclock_point_t p)
{
    lw_points_t h = {c->pts, sizeof(c->pts[0]), LW_WORKCLOCK_POINTS, c->npts, c->spacing};

    lw_points_add(&h, &p);
    c->npts = h.n;
    c->spacing = h.spacing;
}

uint64_t lw_workclock_look(lw_workclock_t *c, uint64_t now_us, uint64_t requests, bool active)
{
    const lw_workclock_point_t *last = c->npts ? &c->pts[c->npts - 1] : NULL;

    if (last && requests < last->requests)
        requests = last->requests; /* the axis never goes back */
    if (active) {
        if (c->seen && now_us > c->last_us)
            c->active_us += now_us - c->last_us < LW_WORKCLOCK_GAP_US ? now_us - c->last_us
                                                                      : LW_WORKCLOCK_GAP_US;
        c->last_us = now_us;
        c->seen = true;
    }
    add_point(c, (lw_workclock_point_t){axis(c, requests), requests, c->active_us});
    return c->pts[c->npts - 1].x;
}

uint64_t lw_workclock_requests(const lw_workclock_t *c)
{
    return c->npts ? c->pts[c->npts - 1].requests : 0;
}

/* v between a and b as x is between xa and xb (xa < xb) */
static double between(uint64_t a, uint64_t b, uint64_t xa, uint64_t xb, uint64_t x)
{
    return (double)a + ((double)b - (double)a) * (double)(x - xa) / (double)(xb - xa);
}

void lw_workclock_span(const lw_workclock_t *c, uint64_t x, uint64_t *requests, double *seconds)
{
    const lw_workclock_point_t *to;
    double r, us;
    uint32_t i = 0;

    *requests = 0;
    *seconds = 0.0;
    if (c->npts == 0)
        return;
    to = &c->pts[c->npts - 1];
    while (i + 1 < c->npts && c->pts[i + 1].x <= x)
        i++;
    if (i + 1 < c->npts && c->pts[i].x < x) { /* between two kept points */
        const lw_workclock_point_t *a = &c->pts[i], *b = &c->pts[i + 1];
        r = between(a->requests, b->requests, a->x, b->x, x);
        us = between(a->active_us, b->active_us, a->x, b->x, x);
    } else {
        r = (double)c->pts[i].requests;
        us = (double)c->pts[i].active_us;
    }
    *requests = (uint64_t)((double)to->requests - r + 0.5);
    *seconds = ((double)to->active_us - us) / 1e6;
}

bool lw_workclock_warm(const lw_workclock_t *c, uint64_t requests, uint32_t live,
                       uint64_t warmup)
{
    return live > 0 && (requests >= warmup * live || c->active_us >= warmup * 1000000);
}

/*
 * points.h - a bounded, evenly thinned history of points along an axis
 * that only moves forward (requests, work), the newest always last: the
 * detector's series (detect.c) and the work clock's (workclock.c).
 *
 * A point is any struct whose first member is its uint64_t axis value.
 * A point closer than `spacing` to the one before the last replaces the
 * last; when the history is full the spacing doubles and the history is
 * thinned to it, keeping the first and the last, so it covers the whole
 * span at any age with at most `max` points. No allocation. Inline: the
 * detector adds a point per judged site per cycle, and a constant size
 * lets the compiler copy points as it would by assignment.
 */
#ifndef LW_POINTS_H
#define LW_POINTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct lw_points {
    void *pts;          /* [max] elements of `size` bytes, oldest first */
    size_t size;
    uint32_t max;       /* >= 3 */
    uint32_t n;
    uint64_t spacing;   /* 0 is taken as 1 */
} lw_points_t;

static inline uint64_t lw_points_axis(const lw_points_t *h, uint32_t i)
{
    uint64_t x;

    memcpy(&x, (const char *)h->pts + (size_t)i * h->size, sizeof(x));
    return x;
}

static inline void lw_points_put(lw_points_t *h, uint32_t i, const void *p)
{
    memcpy((char *)h->pts + (size_t)i * h->size, p, h->size);
}

/* Adds point `p` (size bytes, its axis value not below the last one's). */
static inline void lw_points_add(lw_points_t *h, const void *p)
{
    uint64_t x;

    memcpy(&x, p, sizeof(x));
    if (h->spacing == 0)
        h->spacing = 1;
    if (h->n >= 2 && x - lw_points_axis(h, h->n - 2) < h->spacing) {
        lw_points_put(h, h->n - 1, p); /* too close to the one before: move the tail */
        return;
    }
    while (h->n == h->max) { /* ends: the spacing outgrows every gap */
        uint32_t kept = 1;
        h->spacing *= 2;
        for (uint32_t i = 1; i < h->n - 1; i++) {
            if (lw_points_axis(h, i) - lw_points_axis(h, kept - 1) >= h->spacing)
                lw_points_put(h, kept++, (const char *)h->pts + (size_t)i * h->size);
        }
        lw_points_put(h, kept++, (const char *)h->pts + (size_t)(h->n - 1) * h->size);
        h->n = kept;
    }
    lw_points_put(h, h->n++, p);
}

#endif

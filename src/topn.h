/*
 * topn.h - the n largest of a stream of (id, value) pairs, kept sorted,
 * largest first: the SITES log, the report, the page, /metrics and the
 * alerts' suspects each want "the few biggest sites".
 *
 * Insertion into a bounded array: O(n) per offer, for n of a few dozen at
 * most. Ties keep the earlier offer ahead, so a scan in id order gives the
 * lower id first. Memory comes from the caller; nothing allocates.
 */
#ifndef LW_TOPN_H
#define LW_TOPN_H

#include <stddef.h>
#include <stdint.h>

typedef struct lw_topn {
    uint32_t *ids;      /* [max], largest first */
    int64_t *values;    /* [max], alongside */
    size_t n, max;
} lw_topn_t;

/* Starts an empty selection of at most `max` in the caller's arrays. */
void lw_topn_init(lw_topn_t *t, uint32_t *ids, int64_t *values, size_t max);

/* Keeps (id, value) if it is among the max largest offered so far. */
void lw_topn_offer(lw_topn_t *t, uint32_t id, int64_t value);

#endif

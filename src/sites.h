/*
 * sites.h - per-site live estimates in one worker, and their deltas.
 *
 * A site is where memory was allocated: the innermost Python frame (file,
 * function, line) and the innermost frame of the application (outside the
 * stdlib and installed packages), which differ when a library allocates on
 * the application's behalf. Names come as ids (strtab.h): the core never
 * sees a code object, and the same code compiled again is the same site.
 *
 * The allocator hooks add and subtract weights; every change marks the site
 * dirty (pushed on a list once), and after each request lw_sites_drain()
 * walks only the dirty list: the cost of a request's snapshot is what the
 * request changed, never the size of the heap.
 *
 * Memory comes from the caller and the table never allocates. Index 0 is the
 * overflow site: when the table is full, samples still count there, so
 * totals stay right and `overflowed` says how often it happened.
 */
#ifndef LW_SITES_H
#define LW_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler.h"

#define LW_SITE_OVERFLOW 0

typedef struct lw_site_key {
    uint32_t file, func;          /* innermost frame's names; 0 for pseudo-sites */
    uint32_t app_file, app_func;  /* innermost application frame's, or 0 */
    int32_t line;                 /* negative for pseudo-sites (no frame, free lists) */
    int32_t app_line;
} lw_site_key_t;

typedef struct lw_site {
    lw_site_key_t key;
    int64_t live_bytes;   /* current estimate */
    int64_t live_count;   /* LW_COUNT_ONE units */
    int64_t pub_bytes;    /* as of the last drain */
    int64_t pub_count;
    uint64_t samples;     /* recorded allocations, ever */
    int64_t collected;    /* bytes the cyclic collector freed since the last drain */
    bool dirty;
} lw_site_t;

/* One site's change since the previous drain. */
typedef struct lw_site_delta {
    uint32_t site;
    int64_t bytes;
    int64_t count;        /* LW_COUNT_ONE units */
    int64_t collected;    /* of the fall in `bytes`, what the cyclic collector freed */
} lw_site_delta_t;

typedef struct lw_sites {
    lw_site_t *sites;     /* [capacity]; [0] is the overflow site */
    uint32_t *index;      /* [2 * capacity] open addressing, 0 = empty; [slots] in use */
    uint32_t *dirty;      /* [capacity] stack of dirty site indices */
    uint32_t capacity;
    uint32_t slots;       /* of the index, grown as used (lw_index_grows) */
    uint32_t used;        /* sites in use, overflow site included */
    uint32_t ndirty;
    uint64_t overflowed;  /* samples that found the table full */
} lw_sites_t;

/* Bytes of memory for `capacity` sites (2 .. 1<<24), 0 if out of range. */
size_t lw_sites_bytes(uint32_t capacity);

/* Lays the table out in `mem` (lw_sites_bytes() zeroed bytes). 0, or -EINVAL. */
int lw_sites_init(lw_sites_t *t, void *mem, uint32_t capacity);

/*
 * Finds the site for `key`, adding it if new. Returns 1 and *site for a new
 * site, 0 and *site for a known one; when the table is full returns 0 with
 * *site = LW_SITE_OVERFLOW and counts it.
 */
int lw_sites_intern_hooksafe(lw_sites_t *t, const lw_site_key_t *key, uint32_t *site);

/* Adds (a recorded allocation) or removes (its free) a weight. */
void lw_sites_add_hooksafe(lw_sites_t *t, uint32_t site, lw_weight_t w);
void lw_sites_sub_hooksafe(lw_sites_t *t, uint32_t site, lw_weight_t w);
/* The same, for what Python's cyclic collector frees: garbage, which the
 * delta says apart (lw_site_delta_t.collected). */
void lw_sites_collected_hooksafe(lw_sites_t *t, uint32_t site, lw_weight_t w);

/*
 * Writes up to `max` deltas of dirty sites with a net change and marks them
 * published; sites that changed and came back to where they were produce
 * nothing. Sites beyond `max` stay dirty for the next call: nothing is lost.
 * Returns the number of deltas written.
 */
size_t lw_sites_drain(lw_sites_t *t, lw_site_delta_t *out, size_t max);

/*
 * Gives back a drained delta that could not be delivered: the site is
 * dirty again and its next drain includes it. Nothing is lost.
 */
void lw_sites_unpublish(lw_sites_t *t, const lw_site_delta_t *delta);

/* Whether any site changed since the last drain (a drain may still find
 * they all came back to where they were). */
static inline bool lw_sites_changed(const lw_sites_t *t)
{
    return t->ndirty > 0;
}

/* The site at `index`, or NULL if not in use. */
const lw_site_t *lw_sites_get(const lw_sites_t *t, uint32_t index);

/*
 * Whether a site keyed `k` is part of what the master names by `asked`:
 * the same site, or, when `asked` is a library site reached from an
 * application line (its innermost frame is not that line), another
 * library site reached from the same application line. The master sums
 * those into one site, "growing inside libraries called from this line"
 * (agg.h): a walk for what holds it starts from all of them.
 */
bool lw_site_key_same_rollup(const lw_site_key_t *asked, const lw_site_key_t *k);

#endif

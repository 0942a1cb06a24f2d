/*
 * sitehist.h - the recent past of a few sites' series, for the page's charts.
 *
 * The detector keeps points for judging, only since its base and only for
 * judged sites; a person wants the whole story since start, on a clock.
 * The history is a table of frames (a time, and one value per column) for
 * a bounded set of keys: the caller begins a frame when one is due and
 * puts a value per key. All columns share the frames, so thinning is one
 * step for all: when the table is full, every other frame goes and the
 * spacing doubles. The history always spans the whole run, at one frame
 * per `spacing` seconds at first and coarser as the run ages; its size
 * never changes (LW_SITEHIST_FRAMES x LW_SITEHIST_SERIES values).
 *
 * A key that gets no value for a while keeps its column until a new key
 * needs one: then the column last written longest ago is taken and its
 * old values forgotten; the caller forgets a key at once when it comes to
 * name something else. Values a column did not get in a frame are absent.
 */
#ifndef LW_SITEHIST_H
#define LW_SITEHIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

#define LW_SITEHIST_FRAMES 120
#define LW_SITEHIST_SERIES 32

typedef struct lw_hist lw_sitehist_t;

typedef struct lw_sitehist_point {
    int64_t time;    /* the frame's time, in the caller's clock (seconds) */
    int64_t value;
} lw_sitehist_point_t;

/* A new, empty history taking a frame at most every `spacing` seconds
 * (>= 1) at first; NULL when memory fails. */
lw_sitehist_t *lw_sitehist_new(const lw_alloc_t *alloc, int64_t spacing);
void lw_sitehist_free(lw_sitehist_t *h);

/*
 * Begins a frame at `now` if one is due (the first, or `spacing` seconds
 * after the last), thinning first when the table is full. Returns true
 * when the caller should put values now; false leaves everything as it was
 * (also when `now` went back).
 */
bool lw_sitehist_begin(lw_sitehist_t *h, int64_t now);

/*
 * Sets `key`'s value in the current frame. Returns 0, or -ENOSPC when
 * every column was already written in this frame (nothing changed), or
 * -EINVAL before the first frame.
 */
int lw_sitehist_put(lw_sitehist_t *h, uint64_t key, int64_t value);

/* Forgets `key`: its column and values go, as if it was never put (a key
 * that names something new from now on starts with no history). Nothing
 * happens for an unknown key. */
void lw_sitehist_forget(lw_sitehist_t *h, uint64_t key);

/* Up to max of key's points, oldest first; returns the count (0 for an
 * unknown key). */
size_t lw_sitehist_series(const lw_sitehist_t *h, uint64_t key, lw_sitehist_point_t *out, size_t max);

/* The current spacing between frames, in seconds. */
int64_t lw_sitehist_spacing(const lw_sitehist_t *h);

#endif

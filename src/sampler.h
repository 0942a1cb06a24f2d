/*
 * sampler.h - which allocations to record, and what each record stands for.
 *
 * See sampler.c for the derivation. In short: bytes are sampled by a Poisson
 * process of mean interval R; an allocation of s bytes is recorded with
 * probability p(s) = 1 - exp(-s/R) and then stands for s/p(s) bytes and
 * 1/p(s) allocations, which makes every per-site sum an unbiased estimate.
 */
#ifndef LW_SAMPLER_H
#define LW_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counts are fixed point with 16 fractional bits, so that what a free
 * subtracts is bit-for-bit what the allocation added: no drift. */
#define LW_COUNT_ONE (INT64_C(1) << 16)

/* One per thread: the hooks touch only their own thread's sampler. */
typedef struct lw_sampler {
    int64_t remaining;  /* bytes left before the next sample; 0 while held */
    uint64_t rng;       /* xorshift64* state, never 0 */
    double mean;        /* R, the mean interval in bytes */
    bool exact;         /* record every allocation, weight = size */
    bool held;          /* lw_sampler_hold(): every allocation takes the slow path */
    int64_t countdown;  /* while held: the bytes left before the next sample */
} lw_sampler_t;

/* What one recorded allocation stands for. */
typedef struct lw_weight {
    int64_t bytes;      /* estimated bytes, >= size */
    int64_t count;      /* estimated allocations, in LW_COUNT_ONE units */
} lw_weight_t;

/*
 * Sets up a sampler with mean interval `mean_bytes` (>= 1), or exact mode.
 * `seed` may be anything; 0 is replaced. Cannot fail.
 */
void lw_sampler_init(lw_sampler_t *s, uint64_t mean_bytes, bool exact, uint64_t seed);

/*
 * Accounts an allocation of `size` bytes. Returns true when it must be
 * recorded; the caller then calls lw_sampler_rearm(). The common case is a
 * subtraction and a compare.
 */
static inline bool lw_sampler_take_hooksafe(lw_sampler_t *s, size_t size)
{
    s->remaining -= (int64_t)size;
    return s->remaining <= 0;
}

/* Draws the next interval after a recorded allocation. No allocation, no locks. */
void lw_sampler_rearm_hooksafe(lw_sampler_t *s);

/*
 * Holding. While held, lw_sampler_take_hooksafe() returns true for every
 * allocation, so that the caller's slow path runs for each (to watch for
 * something between two samples), and the slow path then asks
 * lw_sampler_due_hooksafe() whether the allocation is really sampled: the
 * samples drawn are the very ones an unheld sampler would draw. Not held,
 * the fast path is unchanged. Release restores the countdown.
 */
void lw_sampler_hold(lw_sampler_t *s);
void lw_sampler_release(lw_sampler_t *s);

/* In the slow path, after lw_sampler_take_hooksafe() returned true for
 * `size`: whether to record this allocation (then rearm). */
static inline bool lw_sampler_due_hooksafe(lw_sampler_t *s, size_t size)
{
    if (!s->held)
        return true;
    s->remaining = 0;
    s->countdown -= (int64_t)size;
    return s->countdown <= 0;
}

/* Bytes left before the next sample, held or not. */
static inline int64_t lw_sampler_countdown(const lw_sampler_t *s)
{
    return s->held ? s->countdown : s->remaining;
}

/* ln(x) for normal finite x > 0, and 1 - exp(-x) for x >= 0, without libm
 * (see sampler.c). Pure; exposed for their tests. */
double lw_sampler_ln(double x);
double lw_sampler_one_minus_exp_neg(double x);

/* The weight of a recorded allocation of `size` bytes. Pure. */
lw_weight_t lw_sampler_weight(const lw_sampler_t *s, uint64_t size);

#endif

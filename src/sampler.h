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
    int64_t remaining;  /* bytes left before the next sample */
    uint64_t rng;       /* xorshift64* state, never 0 */
    double mean;        /* R, the mean interval in bytes */
    bool exact;         /* record every allocation, weight = size */
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

/* ln(x) for normal finite x > 0, and 1 - exp(-x) for x >= 0, without libm
 * (see sampler.c). Pure; exposed for their tests. */
double lw_sampler_ln(double x);
double lw_sampler_one_minus_exp_neg(double x);

/* The weight of a recorded allocation of `size` bytes. Pure. */
lw_weight_t lw_sampler_weight(const lw_sampler_t *s, uint64_t size);

#endif

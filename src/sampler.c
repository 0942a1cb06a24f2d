/*
 * sampler.c - Poisson sampling of allocated bytes.
 *
 * Why bytes and not calls. A leak is bytes that stay. Sampling one call in N
 * would see a 4 MiB buffer as often as a 16-byte int and need a size-biased
 * correction that depends on the size mix; sampling bytes gives every byte
 * the same chance, so big allocations are almost always seen and the many
 * small ones are seen in proportion to the memory they hold.
 *
 * The process. Lay every allocated byte of a thread end to end and drop
 * points on that line at random, independently, with mean spacing R (a
 * Poisson process of rate 1/R). An allocation is recorded when at least one
 * point falls inside its s bytes:
 *
 *     p(s) = 1 - exp(-s/R)
 *
 * The gaps between points are exponential with mean R, and the exponential
 * forgets: after recording an allocation we may draw a fresh gap from its
 * end instead of tracking the remaining points inside it. So the hot path
 * keeps one counter, `remaining`, subtracts each size and compares with
 * zero; only when it crosses zero does anything else happen.
 *
 * The weights. Give a recorded allocation of s bytes the weight s/p(s)
 * bytes and 1/p(s) allocations (Horvitz-Thompson). For any set of blocks -
 * the live blocks of one site, say - the sum of weights over the recorded
 * ones has expectation
 *
 *     E[sum 1{recorded_i} s_i/p(s_i)] = sum p(s_i) s_i/p(s_i) = sum s_i,
 *
 * unbiased whatever the sizes. For s << R the weight tends to R + s/2 (a
 * small block stands for the R bytes around it); for s >> R, p -> 1 and the
 * weight tends to s (a big block stands for itself).
 *
 * A free, or a realloc that moves a block, removes exactly the weight that
 * was added, so a site's estimate is a sum over its live recorded blocks and
 * stays unbiased as blocks come and go. A realloc is a free of the old block
 * and an allocation of the new one: the block that stays live was recorded
 * with probability p(its final size), which is all the estimator needs.
 *
 * The default R. For a leak of L bytes in blocks of s << R the estimate's
 * variance is about L*R, a relative standard deviation of sqrt(R/L). With
 * R = threshold/64, a threshold's worth of leak carries 64 samples on
 * average and is estimated within +-12.5% (one sigma): stable enough to judge
 * against the threshold, while a request allocating 100 KiB is sampled about
 * 3 times at the default 32 KiB.
 *
 * Exact mode records every allocation with weight s and count 1, for tests
 * and debugging.
 */
#include "sampler.h"

#include <string.h>

/*
 * The two functions of the math library the sampler needs, written here:
 * a worker that calls libm's log() and expm1() maps their code and tables,
 * 350 KiB of the worker's RSS (measured: libm's resident pages in a make
 * bench worker, 68 KiB without leakwatch, 420 KiB with), which uWSGI's
 * --reload-on-rss and the memory limits count. Accuracy: within a few units
 * in the last place of libm's (test_sampler compares them); any deterministic
 * function would keep the estimator's add and subtract bit-for-bit equal.
 */
#define LN2_HI 0x1.62e42fee00000p-1  /* ln 2, its top 32 bits of mantissa */
#define LN2_LO 0x1.a39ef35793c76p-33 /* and the rest */
#define LOG2E  0x1.71547652b82fep0

/* 1/n, correctly rounded, for the series below */
static const double INV[22] = {
    0.0,      1.0,      1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,  1.0 / 6,  1.0 / 7,
    1.0 / 8,  1.0 / 9,  1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15,
    1.0 / 16, 1.0 / 17, 1.0 / 18, 1.0 / 19, 1.0 / 20, 1.0 / 21,
};

static double from_bits(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

double lw_sampler_ln(double x)
{
    uint64_t bits;
    int e;
    double m, f, s, poly;

    memcpy(&bits, &x, sizeof(bits));
    e = (int)((bits >> 52) & 0x7ff) - 1023;
    m = from_bits((bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000));
    if (m > 0x1.6a09e667f3bcdp0) { /* sqrt 2: m in [sqrt(1/2), sqrt(2)) */
        m *= 0.5;
        e++;
    }
    /* ln m = 2 atanh(f), f = (m-1)/(m+1), |f| <= 0.1716: the terms past
     * these 11 are below 2^-53 of the first */
    f = (m - 1.0) / (m + 1.0);
    s = f * f;
    poly = INV[21];
    for (int k = 9; k >= 0; k--)
        poly = INV[2 * k + 1] + s * poly;
    return (double)e * LN2_HI + ((double)e * LN2_LO + 2.0 * f * poly);
}

/* x - x^2/2! + ... - (-x)^n/n!: the rest is below 2^-55 of x where used */
static inline double series_one_minus_exp_neg(double x, int n)
{
    double sum = 1.0;

    for (; n >= 2; n--)
        sum = 1.0 - x * INV[n] * sum;
    return x * sum;
}

/* Called for every sampled block's weight, twice when the free lists'
 * shelf takes it: the terms are as few as the size allows (at the default
 * interval, blocks up to 32 bytes take the first branch, up to 1 KiB the
 * second). */
double lw_sampler_one_minus_exp_neg(double x)
{
    double r, sum;
    int k;

    if (x < 0x1.0p-10)
        return series_one_minus_exp_neg(x, 5);
    if (x < 0x1.0p-5)
        return series_one_minus_exp_neg(x, 8);
    if (x < 0.25) /* no cancellation near 0, as 1 - exp(-x) would have */
        return series_one_minus_exp_neg(x, 12);
    if (x > 40.0) /* exp(-x) < 2^-57 */
        return 1.0;
    /* exp(-x) = 2^-k exp(-r), x = k ln 2 + r, |r| <= ln 2 / 2: 14 terms */
    k = (int)(x * LOG2E + 0.5);
    r = (x - k * LN2_HI) - k * LN2_LO;
    sum = 1.0;
    for (int n = 13; n >= 1; n--)
        sum = 1.0 - r * INV[n] * sum;
    return 1.0 - sum * from_bits((uint64_t)(1023 - k) << 52);
}

/* v >= 0, below 2^62: rounded half up, as llround() does for positives */
static int64_t round_positive(double v)
{
    return (int64_t)(v + 0.5);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state; /* xorshift64*: fast, no allocation, good enough here */

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

void lw_sampler_init(lw_sampler_t *s, uint64_t mean_bytes, bool exact, uint64_t seed)
{
    s->mean = (double)(mean_bytes ? mean_bytes : 1);
    s->exact = exact;
    /* splitmix64 the seed so nearby seeds (pids) give unrelated streams */
    seed += UINT64_C(0x9E3779B97F4A7C15);
    seed = (seed ^ (seed >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    seed = (seed ^ (seed >> 27)) * UINT64_C(0x94D049BB133111EB);
    seed ^= seed >> 31;
    s->rng = seed ? seed : UINT64_C(0x853c49e6748fea9b);
    s->remaining = 0;
    s->held = false;
    s->countdown = 0;
    lw_sampler_rearm_hooksafe(s);
}

void lw_sampler_hold(lw_sampler_t *s)
{
    if (s->held)
        return;
    s->countdown = s->remaining;
    s->remaining = 0;
    s->held = true;
}

void lw_sampler_release(lw_sampler_t *s)
{
    if (!s->held)
        return;
    s->remaining = s->countdown;
    s->held = false;
}

/* The next interval goes where the countdown is kept: `remaining`, or
 * `countdown` while held (`remaining` then stays 0). */
static void set_interval(lw_sampler_t *s, int64_t gap)
{
    if (s->held) {
        s->countdown = gap;
        s->remaining = 0;
    }
    else {
        s->remaining = gap;
    }
}

void lw_sampler_rearm_hooksafe(lw_sampler_t *s)
{
    double u, gap;

    if (s->exact) {
        set_interval(s, 0); /* every allocation crosses zero */
        return;
    }
    /* u uniform in (0, 1]: 53 random bits, never 0, so log(u) is finite */
    u = ((double)(next_random(&s->rng) >> 11) + 1.0) * 0x1.0p-53;
    gap = -lw_sampler_ln(u) * s->mean;
    if (gap < 1.0)
        gap = 1.0;
    if (gap > 0x1.0p62)
        gap = 0x1.0p62;
    set_interval(s, (int64_t)gap);
}

lw_weight_t lw_sampler_weight(const lw_sampler_t *s, uint64_t size)
{
    lw_weight_t w;
    double p;

    if (s->exact || size == 0) {
        w.bytes = (int64_t)size;
        w.count = LW_COUNT_ONE;
        return w;
    }
    p = lw_sampler_one_minus_exp_neg((double)size / s->mean);
    if (p <= 0.0) /* unreachable for size >= 1 and finite mean; stay safe */
        p = 1.0 / s->mean;
    w.bytes = round_positive((double)size / p);
    w.count = round_positive((double)LW_COUNT_ONE / p);
    if (w.bytes < (int64_t)size)
        w.bytes = (int64_t)size;
    return w;
}

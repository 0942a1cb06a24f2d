/* Sampler: unbiased estimates over many seeded runs, exact mode exact. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

#define R 32768

struct estimate {
    double bytes;
    double count;
};

/* Allocates n blocks of size(i) through the sampler; sums the weights of the recorded ones. */
static struct estimate run(uint64_t seed, uint64_t mean, int n, uint64_t (*size)(int))
{
    lw_sampler_t s;
    struct estimate e = {0, 0};

    lw_sampler_init(&s, mean, false, seed);
    for (int i = 0; i < n; i++) {
        uint64_t sz = size(i);
        if (lw_sampler_take_hooksafe(&s, sz)) {
            lw_weight_t w = lw_sampler_weight(&s, sz);
            e.bytes += (double)w.bytes;
            e.count += (double)w.count / (double)LW_COUNT_ONE;
            lw_sampler_rearm_hooksafe(&s);
        }
    }
    return e;
}

static uint64_t size64(int i)
{
    (void)i;
    return 64;
}

static uint64_t size_mixed(int i)
{
    static const uint64_t sizes[] = {16, 48, 64, 200, 512, 1000, 4096, 30000, 65536, 300000};
    return sizes[(unsigned)i * 7u % 10u];
}

static void test_sampler_small_blocks_are_estimated_without_bias(void **state)
{
    const int n = 32768, runs = 300; /* 2 MiB of 64-byte blocks per run */
    const double truth = 64.0 * n;
    double sum = 0, sumsq = 0, count = 0;

    (void)state;
    for (int r = 0; r < runs; r++) {
        struct estimate e = run(1000 + (uint64_t)r, R, n, size64);
        sum += e.bytes;
        sumsq += e.bytes * e.bytes;
        count += e.count;
    }
    double mean = sum / runs, sd = sqrt(sumsq / runs - mean * mean);
    /* unbiased: the mean of 300 runs is within 3 standard errors */
    assert_true(fabs(mean - truth) < 3 * sd / sqrt(runs));
    /* and the spread is what the derivation predicts: sqrt(R * L), +-25% */
    assert_true(fabs(sd / sqrt((double)R * truth) - 1.0) < 0.25);
    assert_true(fabs(count / runs - n) < 0.02 * n);
}

static void test_sampler_mixed_sizes_are_estimated_without_bias(void **state)
{
    const int n = 20000, runs = 200;
    double truth = 0, sum = 0, sumsq = 0;

    (void)state;
    for (int i = 0; i < n; i++)
        truth += (double)size_mixed(i);
    for (int r = 0; r < runs; r++) {
        struct estimate e = run(77 + (uint64_t)r, R, n, size_mixed);
        sum += e.bytes;
        sumsq += e.bytes * e.bytes;
    }
    double mean = sum / runs, sd = sqrt(sumsq / runs - mean * mean);
    assert_true(fabs(mean - truth) < 3 * sd / sqrt(runs) + 1e-9 * truth);
    assert_true(fabs(mean - truth) / truth < 0.01);
}

static void test_sampler_large_blocks_are_always_recorded_at_their_size(void **state)
{
    lw_sampler_t s;

    (void)state;
    lw_sampler_init(&s, R, false, 5);
    for (int i = 0; i < 1000; i++) {
        uint64_t sz = UINT64_C(1) << 20; /* 32 x R: p = 1 - e^-32 */
        assert_true(lw_sampler_take_hooksafe(&s, sz));
        lw_weight_t w = lw_sampler_weight(&s, sz);
        assert_int_equal(w.bytes, (int64_t)sz);
        assert_int_equal(w.count, LW_COUNT_ONE);
        lw_sampler_rearm_hooksafe(&s);
    }
}

static void test_sampler_weights_follow_the_formula(void **state)
{
    lw_sampler_t s;

    (void)state;
    lw_sampler_init(&s, R, false, 9);
    /* s << R: the weight tends to R + s/2 */
    assert_true(llabs(lw_sampler_weight(&s, 1).bytes - R) <= 1);
    assert_true(llabs(lw_sampler_weight(&s, 64).bytes - (R + 32)) <= 1);
    /* s = R: s / (1 - 1/e) */
    assert_true(llabs(lw_sampler_weight(&s, R).bytes - (int64_t)llround(R / (1 - exp(-1.0)))) <= 1);
    /* never below the size */
    for (uint64_t sz = 1; sz < (UINT64_C(1) << 30); sz = sz * 3 + 1)
        assert_true(lw_sampler_weight(&s, sz).bytes >= (int64_t)sz);
}

/* ulps between two finite doubles of the same sign */
static uint64_t ulps_apart(double a, double b)
{
    int64_t ia, ib;

    memcpy(&ia, &a, sizeof(ia));
    memcpy(&ib, &b, sizeof(ib));
    return (uint64_t)(ia > ib ? ia - ib : ib - ia);
}

/* The sampler's own ln and 1 - exp(-x) (no libm in the worker) agree with
 * libm's within 4 units in the last place, over every binade the sampler
 * uses them in: u in [2^-53, 1], x = size / mean from 2^-40 to past 40. */
static void test_sampler_math_agrees_with_libm(void **state)
{
    uint64_t rng = 12345, worst_ln = 0, worst_exp = 0;

    (void)state;
    assert_true(lw_sampler_ln(1.0) == 0.0);
    assert_true(lw_sampler_one_minus_exp_neg(0.0) == 0.0);
    assert_true(lw_sampler_one_minus_exp_neg(1000.0) == 1.0);
    for (int i = 0; i < 200000; i++) {
        double m, u, x;

        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        m = 1.0 + (double)((rng * UINT64_C(0x2545F4914F6CDD1D)) >> 11) * 0x1.0p-53; /* [1, 2) */
        u = ldexp(m, -1 - i % 53);                   /* [2^-53, 1) */
        x = ldexp(m, i % 47 - 41);                   /* [2^-41, 64) */
        if (ulps_apart(lw_sampler_ln(u), log(u)) > worst_ln)
            worst_ln = ulps_apart(lw_sampler_ln(u), log(u));
        if (ulps_apart(lw_sampler_one_minus_exp_neg(x), -expm1(-x)) > worst_exp)
            worst_exp = ulps_apart(lw_sampler_one_minus_exp_neg(x), -expm1(-x));
    }
    print_message("worst: ln %llu ulp, 1 - exp(-x) %llu ulp\n", (unsigned long long)worst_ln,
                  (unsigned long long)worst_exp);
    assert_true(worst_ln <= 4);
    assert_true(worst_exp <= 4);
}

static void test_sampler_gaps_average_the_mean(void **state)
{
    lw_sampler_t s;
    double sum = 0;
    const int n = 20000;

    (void)state;
    lw_sampler_init(&s, 4096, false, 3);
    for (int i = 0; i < n; i++) {
        lw_sampler_rearm_hooksafe(&s);
        assert_true(s.remaining >= 1);
        sum += (double)s.remaining;
    }
    assert_true(fabs(sum / n / 4096.0 - 1.0) < 0.03);
}

static void test_sampler_exact_mode_records_everything_exactly(void **state)
{
    lw_sampler_t s;
    int64_t bytes = 0, count = 0;

    (void)state;
    lw_sampler_init(&s, 1, true, 1);
    for (uint64_t sz = 1; sz <= 5000; sz++) {
        assert_true(lw_sampler_take_hooksafe(&s, sz));
        lw_weight_t w = lw_sampler_weight(&s, sz);
        bytes += w.bytes;
        count += w.count;
        lw_sampler_rearm_hooksafe(&s);
    }
    assert_int_equal(bytes, 5000 * 5001 / 2);
    assert_int_equal(count, 5000 * LW_COUNT_ONE);
}

static void test_sampler_zero_size_and_seeds_are_safe(void **state)
{
    lw_sampler_t a, b;

    (void)state;
    lw_sampler_init(&a, R, false, 0); /* seed 0 is replaced */
    assert_true(a.rng != 0);
    assert_int_equal(lw_sampler_weight(&a, 0).bytes, 0);
    lw_sampler_init(&b, R, false, 1);
    assert_true(a.remaining != b.remaining || a.rng != b.rng);
}

/* Holding makes every allocation reach the slow path, and the slow path
 * records exactly the allocations an unheld sampler of the same seed
 * records, through holds and releases at any point (exact mode too). */
static void held_matches_unheld(bool exact)
{
    lw_sampler_t plain, held;
    uint64_t rng = 12345;
    int recorded = 0, slow = 0, allocations = 200000;

    lw_sampler_init(&plain, 512, exact, 7);
    lw_sampler_init(&held, 512, exact, 7);
    for (int i = 0; i < allocations; i++) {
        size_t size;
        bool want, got = false, reached;

        rng = rng * 6364136223846793005u + 1442695040888963407u;
        size = 1 + (rng >> 33) % 700;
        if ((rng >> 20) % 97 == 0)
            lw_sampler_hold(&held);
        else if ((rng >> 20) % 97 == 1)
            lw_sampler_release(&held);
        want = lw_sampler_take_hooksafe(&plain, size);
        if (want)
            lw_sampler_rearm_hooksafe(&plain);
        reached = lw_sampler_take_hooksafe(&held, size);
        if (held.held)
            assert_true(reached); /* held: every allocation takes the slow path */
        if (reached) {
            slow++;
            got = lw_sampler_due_hooksafe(&held, size);
            if (got)
                lw_sampler_rearm_hooksafe(&held);
        }
        assert_int_equal(got, want);
        assert_int_equal(lw_sampler_countdown(&held), lw_sampler_countdown(&plain));
        recorded += got;
    }
    assert_true(recorded > 100);
    if (!exact) /* the holds made slow paths that recorded nothing */
        assert_true(slow > recorded);
    lw_sampler_release(&held);
    assert_false(held.held);
    assert_int_equal(held.remaining, plain.remaining);
}

static void test_sampler_holding_draws_the_same_samples(void **state)
{
    (void)state;
    held_matches_unheld(false);
    held_matches_unheld(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampler_small_blocks_are_estimated_without_bias),
        cmocka_unit_test(test_sampler_mixed_sizes_are_estimated_without_bias),
        cmocka_unit_test(test_sampler_large_blocks_are_always_recorded_at_their_size),
        cmocka_unit_test(test_sampler_weights_follow_the_formula),
        cmocka_unit_test(test_sampler_math_agrees_with_libm),
        cmocka_unit_test(test_sampler_gaps_average_the_mean),
        cmocka_unit_test(test_sampler_exact_mode_records_everything_exactly),
        cmocka_unit_test(test_sampler_zero_size_and_seeds_are_safe),
        cmocka_unit_test(test_sampler_holding_draws_the_same_samples),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}

/* topn: the largest kept in order, ties keep the earlier, bounds respected. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "topn.h"

#define MAX 4

static void test_topn_keeps_the_largest_in_order(void **state)
{
    static const int64_t values[] = {5, 1, 9, 3, 7, 2, 8, 6, 4};
    static const uint32_t want[MAX] = {2, 6, 4, 7}; /* 9, 8, 7, 6 */
    uint32_t ids[MAX];
    int64_t vals[MAX];
    lw_topn_t t;

    (void)state;
    lw_topn_init(&t, ids, vals, MAX);
    for (uint32_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        lw_topn_offer(&t, i, values[i]);
    assert_int_equal(t.n, MAX);
    for (size_t k = 0; k < MAX; k++) {
        assert_int_equal(ids[k], want[k]);
        assert_int_equal(vals[k], values[want[k]]);
    }
}

static void test_topn_ties_keep_the_earlier_ahead(void **state)
{
    uint32_t ids[MAX];
    int64_t vals[MAX];
    lw_topn_t t;

    (void)state;
    lw_topn_init(&t, ids, vals, MAX);
    for (uint32_t i = 0; i < 6; i++)
        lw_topn_offer(&t, i, 10);
    assert_int_equal(t.n, MAX);
    for (uint32_t k = 0; k < MAX; k++)
        assert_int_equal(ids[k], k); /* later equals never push an earlier out */
}

static void test_topn_fewer_than_max_and_zero_max(void **state)
{
    uint32_t ids[MAX];
    int64_t vals[MAX];
    lw_topn_t t;

    (void)state;
    lw_topn_init(&t, ids, vals, MAX);
    lw_topn_offer(&t, 7, -3);
    lw_topn_offer(&t, 8, 2);
    assert_int_equal(t.n, 2);
    assert_int_equal(ids[0], 8);
    assert_int_equal(ids[1], 7);
    lw_topn_init(&t, ids, vals, 0);
    lw_topn_offer(&t, 1, 100);
    assert_int_equal(t.n, 0);
}

static void test_topn_matches_a_full_sort(void **state)
{
    enum { N = 500, K = 16 };
    static int64_t values[N];
    uint32_t ids[K];
    int64_t vals[K];
    uint64_t x = 88172645463325252ULL;
    lw_topn_t t;

    (void)state;
    lw_topn_init(&t, ids, vals, K);
    for (uint32_t i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values[i] = (int64_t)(x % 1000);
        lw_topn_offer(&t, i, values[i]);
    }
    /* every kept value is at least every value left out, and in order */
    for (size_t k = 1; k < K; k++)
        assert_true(vals[k - 1] >= vals[k]);
    for (uint32_t i = 0; i < N; i++) {
        int kept = 0;
        for (size_t k = 0; k < K; k++)
            kept |= ids[k] == i;
        if (!kept)
            assert_true(values[i] <= vals[K - 1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topn_keeps_the_largest_in_order),
        cmocka_unit_test(test_topn_ties_keep_the_earlier_ahead),
        cmocka_unit_test(test_topn_fewer_than_max_and_zero_max),
        cmocka_unit_test(test_topn_matches_a_full_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* sitehist: frames on a clock, columns per key, thinning that keeps the whole
 * run, eviction of the column written longest ago, forgetting a key,
 * allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "sitehist.h"

#include "failing_alloc.h"

static lw_sitehist_t *fresh(int64_t spacing)
{
    lw_sitehist_t *h = lw_sitehist_new(&alloc, spacing);
    assert_non_null(h);
    return h;
}

static void test_sitehist_frames_follow_the_spacing(void **state)
{
    lw_sitehist_t *h = fresh(5);
    lw_sitehist_point_t p[8];

    (void)state;
    assert_int_equal(lw_sitehist_put(h, 1, 10), -EINVAL); /* no frame yet */
    assert_true(lw_sitehist_begin(h, 100));
    assert_int_equal(lw_sitehist_put(h, 1, 10), 0);
    assert_false(lw_sitehist_begin(h, 104)); /* not due */
    assert_false(lw_sitehist_begin(h, 50));  /* the clock went back: nothing changes */
    assert_true(lw_sitehist_begin(h, 105));
    assert_int_equal(lw_sitehist_put(h, 1, 20), 0);
    assert_int_equal(lw_sitehist_put(h, 1, 25), 0); /* the same frame: replaced */
    assert_int_equal(lw_sitehist_series(h, 1, p, 8), 2);
    assert_int_equal(p[0].time, 100);
    assert_int_equal(p[0].value, 10);
    assert_int_equal(p[1].time, 105);
    assert_int_equal(p[1].value, 25);
    assert_int_equal(lw_sitehist_series(h, 2, p, 8), 0); /* unknown key */
    assert_int_equal(lw_sitehist_series(h, 1, p, 1), 1); /* bounded by max */
    lw_sitehist_free(h);
    assert_int_equal(live_allocs, 0);
}

static void test_sitehist_frames_without_a_value_are_absent(void **state)
{
    lw_sitehist_t *h = fresh(1);
    lw_sitehist_point_t p[8];

    (void)state;
    for (int64_t t = 0; t < 5; t++) {
        assert_true(lw_sitehist_begin(h, t));
        assert_int_equal(lw_sitehist_put(h, 7, t), 0);
        if (t % 2 == 0)
            assert_int_equal(lw_sitehist_put(h, 8, -t), 0);
    }
    assert_int_equal(lw_sitehist_series(h, 7, p, 8), 5);
    assert_int_equal(lw_sitehist_series(h, 8, p, 8), 3);
    assert_int_equal(p[1].time, 2);
    assert_int_equal(p[1].value, -2);
    lw_sitehist_free(h);
}

static void test_sitehist_full_table_thins_and_keeps_the_whole_run(void **state)
{
    lw_sitehist_t *h = fresh(1);
    lw_sitehist_point_t p[LW_SITEHIST_FRAMES];
    int64_t t = 0;
    size_t n;

    (void)state;
    for (int frames = 0; frames < 10 * LW_SITEHIST_FRAMES; t++) {
        if (!lw_sitehist_begin(h, t))
            continue;
        frames++;
        assert_int_equal(lw_sitehist_put(h, 1, t * 3), 0);
    }
    n = lw_sitehist_series(h, 1, p, LW_SITEHIST_FRAMES);
    assert_true(n >= LW_SITEHIST_FRAMES / 2 && n <= LW_SITEHIST_FRAMES);
    assert_true(p[0].time < lw_sitehist_spacing(h)); /* still reaches back to the start */
    assert_int_equal(p[n - 1].time, t - 1);          /* and holds the newest frame */
    assert_true(lw_sitehist_spacing(h) >= 8);            /* coarser as the run ages */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(p[i].value, p[i].time * 3); /* values stay with their times */
    for (size_t i = 1; i < n; i++)
        assert_true(p[i].time > p[i - 1].time);
    lw_sitehist_free(h);
}

static void test_sitehist_new_key_takes_the_column_written_longest_ago(void **state)
{
    lw_sitehist_t *h = fresh(1);
    lw_sitehist_point_t p[8];

    (void)state;
    assert_true(lw_sitehist_begin(h, 0));
    for (uint64_t k = 0; k < LW_SITEHIST_SERIES; k++)
        assert_int_equal(lw_sitehist_put(h, k, 1), 0);
    /* a full frame: a new key finds no column it may take */
    assert_int_equal(lw_sitehist_put(h, 1000, 1), -ENOSPC);
    assert_int_equal(lw_sitehist_series(h, 1000, p, 8), 0);
    assert_true(lw_sitehist_begin(h, 1));
    for (uint64_t k = 1; k < LW_SITEHIST_SERIES; k++) /* key 0 is not written again */
        assert_int_equal(lw_sitehist_put(h, k, 2), 0);
    assert_int_equal(lw_sitehist_put(h, 1000, 5), 0);
    assert_int_equal(lw_sitehist_series(h, 0, p, 8), 0); /* evicted */
    assert_int_equal(lw_sitehist_series(h, 1000, p, 8), 1); /* its old values forgotten */
    assert_int_equal(p[0].value, 5);
    assert_int_equal(lw_sitehist_series(h, 1, p, 8), 2);
    lw_sitehist_free(h);
}

static void test_sitehist_forget_drops_the_key_and_frees_its_column(void **state)
{
    lw_sitehist_t *h = fresh(1);
    lw_sitehist_point_t p[8];

    (void)state;
    lw_sitehist_forget(h, 3); /* before any frame, unknown: nothing happens */
    assert_true(lw_sitehist_begin(h, 0));
    for (uint64_t k = 0; k < LW_SITEHIST_SERIES; k++)
        assert_int_equal(lw_sitehist_put(h, k, 10 + (int64_t)k), 0);
    /* GIVEN a full frame: WHEN key 3 is forgotten */
    lw_sitehist_forget(h, 3);
    lw_sitehist_forget(h, 1000); /* unknown: nothing happens */
    /* THEN it has no past, the others keep theirs, and its column is free
     * even within the frame that filled every column */
    assert_int_equal(lw_sitehist_series(h, 3, p, 8), 0);
    assert_int_equal(lw_sitehist_series(h, 4, p, 8), 1);
    assert_int_equal(p[0].value, 14);
    assert_int_equal(lw_sitehist_put(h, 1000, 7), 0);
    assert_int_equal(lw_sitehist_put(h, 1001, 7), -ENOSPC);
    /* AND the key, put again, starts from nothing */
    assert_true(lw_sitehist_begin(h, 1));
    assert_int_equal(lw_sitehist_put(h, 3, 99), 0);
    assert_int_equal(lw_sitehist_series(h, 3, p, 8), 1);
    assert_int_equal(p[0].time, 1);
    assert_int_equal(p[0].value, 99);
    lw_sitehist_free(h);
}

static void test_sitehist_allocation_failure_is_clean(void **state)
{
    (void)state;
    allocs_left = 0;
    assert_null(lw_sitehist_new(&alloc, 1));
    allocs_left = -1;
    assert_int_equal(live_allocs, 0);
    lw_sitehist_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sitehist_frames_follow_the_spacing),
        cmocka_unit_test(test_sitehist_frames_without_a_value_are_absent),
        cmocka_unit_test(test_sitehist_full_table_thins_and_keeps_the_whole_run),
        cmocka_unit_test(test_sitehist_new_key_takes_the_column_written_longest_ago),
        cmocka_unit_test(test_sitehist_forget_drops_the_key_and_frees_its_column),
        cmocka_unit_test(test_sitehist_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* points: a bounded history along a forward axis, thinned evenly, the
 * first and the newest point always kept. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "points.h"

#define MAX 8

typedef struct point {
    uint64_t x;
    int64_t value;
} point_t;

static void test_points_a_close_point_replaces_the_last(void **state)
{
    point_t pts[MAX];
    lw_points_t h = {pts, sizeof(pts[0]), MAX, 0, 0};

    (void)state;
    for (uint64_t x = 0; x < 5; x++)
        lw_points_add(&h, &(point_t){x, (int64_t)x * 10});
    assert_int_equal(h.n, 5); /* spacing 1: every point kept */
    h.spacing = 4;
    lw_points_add(&h, &(point_t){6, 60}); /* 3 after the one before the last: too close */
    assert_int_equal(h.n, 5);
    assert_int_equal(pts[4].x, 6);
    assert_int_equal(pts[4].value, 60);
}

static void test_points_a_long_history_stays_bounded_and_even(void **state)
{
    point_t pts[MAX];
    lw_points_t h = {pts, sizeof(pts[0]), MAX, 0, 0};

    (void)state;
    for (uint64_t x = 0; x <= 1000; x++) {
        lw_points_add(&h, &(point_t){x, -(int64_t)x});
        assert_true(h.n <= MAX);
        assert_int_equal(pts[0].x, 0);             /* the first stays */
        assert_int_equal(pts[h.n - 1].x, x);       /* the newest is last */
        assert_int_equal(pts[h.n - 1].value, -(int64_t)x);
        for (uint32_t i = 1; i + 1 < h.n; i++)     /* kept points are spacing apart */
            assert_true(pts[i].x - pts[i - 1].x >= h.spacing / 2);
    }
    assert_true(h.spacing >= 1000 / MAX);
    assert_true(h.n >= MAX / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points_a_close_point_replaces_the_last),
        cmocka_unit_test(test_points_a_long_history_stays_bounded_and_even),
    };
    return cmocka_run_group_tests_name("points", tests, NULL, NULL);
}

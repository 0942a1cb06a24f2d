/* memlimit: cgroup parsing over fixture trees, the trend, the ETA. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "memlimit.h"

static const char *fixtures(void)
{
    const char *d = getenv("LW_MEMLIMIT_FIXTURES");
    return d ? d : "tests/unit/memlimit";
}

static int limit_of(const char *tree, uint64_t *limit)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", fixtures(), tree);
    return lw_cgroup_limit(path, limit);
}

static void test_cgroup_v2_and_v1_limits(void **state)
{
    uint64_t limit = 7;

    (void)state;
    assert_int_equal(limit_of("v2", &limit), 0);
    assert_int_equal(limit, UINT64_C(1) << 30);
    assert_int_equal(limit_of("v2max", &limit), 0);
    assert_int_equal(limit, 0); /* "max": no limit */
    assert_int_equal(limit_of("v1set", &limit), 0);
    assert_int_equal(limit, UINT64_C(512) << 20);
    assert_int_equal(limit_of("v1flat", &limit), 0);
    assert_int_equal(limit, UINT64_C(256) << 20);
    assert_int_equal(limit_of("v1unlimited", &limit), 0);
    assert_int_equal(limit, 0); /* v1's page-aligned "unlimited" */
}

static void test_cgroup_missing_and_malformed(void **state)
{
    uint64_t limit = 7;

    (void)state;
    assert_int_equal(limit_of("no-such-tree", &limit), -ENOENT);
    assert_int_equal(limit, 7);
    assert_int_equal(limit_of("bad", &limit), -EINVAL);
}

static void test_trend_is_robust_to_outliers(void **state)
{
    double x[20], y[20];

    (void)state;
    for (int i = 0; i < 20; i++) {
        x[i] = i;
        y[i] = 1000 + 50.0 * i;
    }
    assert_true(lw_trend_slope(x, y, 20) == 50.0);
    y[3] = 1e9; /* a wild reading */
    y[11] = -1e9;
    double s = lw_trend_slope(x, y, 20);
    assert_true(s > 45.0 && s < 55.0);
    assert_true(lw_trend_slope(x, y, 1) == 0.0);
    double flat[5] = {7, 7, 7, 7, 7}, same_x[5] = {1, 1, 1, 1, 1};
    assert_true(lw_trend_slope(x, flat, 5) == 0.0);
    assert_true(lw_trend_slope(same_x, y, 5) == 0.0);
}

static void test_oom_eta(void **state)
{
    (void)state;
    assert_int_equal(lw_oom_eta(100, 0, 5.0), 0);      /* no limit */
    assert_int_equal(lw_oom_eta(100, 1000, 0.0), 0);   /* not growing */
    assert_int_equal(lw_oom_eta(100, 1000, -3.0), 0);  /* shrinking */
    assert_int_equal(lw_oom_eta(100, 1000, 10.0), 90);
    assert_int_equal(lw_oom_eta(1000, 1000, 10.0), 1); /* there */
    assert_int_equal(lw_oom_eta(999, 1000, 1e6), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cgroup_v2_and_v1_limits),
        cmocka_unit_test(test_cgroup_missing_and_malformed),
        cmocka_unit_test(test_trend_is_robust_to_outliers),
        cmocka_unit_test(test_oom_eta),
    };
    return cmocka_run_group_tests_name("memlimit", tests, NULL, NULL);
}

/* gcpolicy: when a worker collects cyclic garbage on leakwatch's behalf. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gcpolicy.h"

#define T (1 << 20)

static void test_auto_collects_after_half_the_threshold_of_growth(void **state)
{
    lw_config_t cfg = {.threshold = T, .gc = LW_GC_AUTO};
    lw_gcpolicy_t p = {0};

    (void)state;
    lw_gcpolicy_collected(&p, 100, 5 * T);
    assert_false(lw_gcpolicy_due(&p, &cfg, 200, 5 * T));          /* flat: never */
    assert_false(lw_gcpolicy_due(&p, &cfg, 200, 5 * T + T / 2 - 1));
    assert_true(lw_gcpolicy_due(&p, &cfg, 200, 5 * T + T / 2));
    assert_false(lw_gcpolicy_due(&p, &cfg, 200, 4 * T));          /* fell: no */
}

static void test_auto_collects_at_most_once_per_sixteen_requests(void **state)
{
    lw_config_t cfg = {.threshold = T, .gc = LW_GC_AUTO};
    lw_gcpolicy_t p = {0};

    (void)state;
    lw_gcpolicy_collected(&p, 100, 0);
    assert_false(lw_gcpolicy_due(&p, &cfg, 100 + LW_GC_AUTO_MIN_REQUESTS - 1, 10 * T));
    assert_true(lw_gcpolicy_due(&p, &cfg, 100 + LW_GC_AUTO_MIN_REQUESTS, 10 * T));
    /* counted from the last collection, bytes and requests alike */
    lw_gcpolicy_collected(&p, 116, 9 * T);
    assert_false(lw_gcpolicy_due(&p, &cfg, 140, 9 * T + T / 4));
    assert_true(lw_gcpolicy_due(&p, &cfg, 140, 9 * T + T / 2));
}

static void test_every_n_requests_whatever_the_growth(void **state)
{
    lw_config_t cfg = {.threshold = T, .gc = LW_GC_EVERY, .gc_every = 10};
    lw_gcpolicy_t p = {0};

    (void)state;
    assert_false(lw_gcpolicy_due(&p, &cfg, 9, 100 * T));
    assert_true(lw_gcpolicy_due(&p, &cfg, 10, 0));
    assert_false(lw_gcpolicy_due(&p, &cfg, 11, 0));
    assert_true(lw_gcpolicy_due(&p, &cfg, 20, 0));
    cfg.gc_every = 1; /* --leakwatch-gc request */
    assert_true(lw_gcpolicy_due(&p, &cfg, 21, 0));
    assert_true(lw_gcpolicy_due(&p, &cfg, 22, 0));
}

static void test_off_never_collects(void **state)
{
    lw_config_t cfg = {.threshold = T, .gc = LW_GC_OFF};
    lw_gcpolicy_t p = {0};

    (void)state;
    assert_false(lw_gcpolicy_due(&p, &cfg, 1000, 100 * T));
    assert_false(lw_gcpolicy_due(&p, &cfg, 16, T / 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_collects_after_half_the_threshold_of_growth),
        cmocka_unit_test(test_auto_collects_at_most_once_per_sixteen_requests),
        cmocka_unit_test(test_every_n_requests_whatever_the_growth),
        cmocka_unit_test(test_off_never_collects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

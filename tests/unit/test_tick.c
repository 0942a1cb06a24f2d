/* tick: rate limiting from a caller's clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tick.h"

static void test_tick_fires_at_most_once_per_interval(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, 1000);
    assert_true(lw_tick_due(&t, 5000));   /* first call */
    assert_false(lw_tick_due(&t, 5001));
    assert_false(lw_tick_due(&t, 5999));
    assert_true(lw_tick_due(&t, 6000));   /* exactly one interval later */
    assert_false(lw_tick_due(&t, 6500));
    assert_true(lw_tick_due(&t, 9000));   /* late: fires once, then waits again */
    assert_false(lw_tick_due(&t, 9999));
}

static void test_tick_zero_interval_always_fires(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, 0);
    for (uint64_t now = 10; now < 20; now++)
        assert_true(lw_tick_due(&t, now));
}

static void test_tick_survives_the_clock_going_back(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, 1000);
    assert_true(lw_tick_due(&t, 1000000));
    assert_false(lw_tick_due(&t, 999900));  /* a small wobble: nothing */
    assert_true(lw_tick_due(&t, 500000));   /* a jump back: fire, don't stall */
    assert_false(lw_tick_due(&t, 500500));
    assert_true(lw_tick_due(&t, 501000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_fires_at_most_once_per_interval),
        cmocka_unit_test(test_tick_zero_interval_always_fires),
        cmocka_unit_test(test_tick_survives_the_clock_going_back),
    };
    return cmocka_run_group_tests_name("tick", tests, NULL, NULL);
}

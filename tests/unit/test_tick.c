/* tick: rate limiting from a caller's clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tick.h"

#define INTERVAL 1000

static void test_tick_first_call_is_due(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 5000));
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 0)); /* even at time zero */
    assert_false(lw_tick_due(&t, 0));
}

static void test_tick_fires_at_most_once_per_interval(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 5000));
    assert_false(lw_tick_due(&t, 5000)); /* same instant */
    assert_false(lw_tick_due(&t, 5001));
    assert_false(lw_tick_due(&t, 5999));
    assert_true(lw_tick_due(&t, 6000)); /* exactly one interval later */
    assert_false(lw_tick_due(&t, 6000));
    assert_false(lw_tick_due(&t, 6999));
    assert_true(lw_tick_due(&t, 9000)); /* late: fires once, then counts from now */
    assert_false(lw_tick_due(&t, 9999));
    assert_true(lw_tick_due(&t, 10000));
}

static void test_tick_zero_interval_always_fires(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, 0);
    for (uint64_t now = 10; now < 20; now++) {
        assert_true(lw_tick_due(&t, now));
        assert_true(lw_tick_due(&t, now)); /* twice at the same instant too */
    }
    assert_true(lw_tick_due(&t, 5)); /* and backwards */
}

static void test_tick_fires_at_once_after_a_jump_back(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 1000000));
    assert_true(lw_tick_due(&t, 500000)); /* far back: fire, don't stall */
    assert_false(lw_tick_due(&t, 500500)); /* then the schedule runs from there */
    assert_true(lw_tick_due(&t, 501000));

    /* the edge: more than one interval before the last firing */
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 1000000));
    assert_false(lw_tick_due(&t, 1000000 - INTERVAL));
    assert_true(lw_tick_due(&t, 1000000 - INTERVAL - 1));
}

static void test_tick_ignores_a_small_wobble_back(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 1000000));
    assert_false(lw_tick_due(&t, 999900));
    assert_false(lw_tick_due(&t, 999500));
    assert_false(lw_tick_due(&t, 1000999)); /* the schedule is unchanged */
    assert_true(lw_tick_due(&t, 1001000));
}

static void test_tick_huge_interval_fires_once(void **state)
{
    lw_tick_t t;

    (void)state;
    lw_tick_init(&t, UINT64_MAX);
    assert_true(lw_tick_due(&t, 5));
    assert_false(lw_tick_due(&t, 6));
    assert_false(lw_tick_due(&t, 7));
}

/* Runs the work `n` times, each due as soon as allowed and costing cost_us;
 * returns when the last run ended. */
static uint64_t runs(lw_tick_t *t, uint64_t now, int n, uint64_t cost_us)
{
    for (int k = 0; k < n; now++) {
        if (lw_tick_due(t, now)) {
            lw_tick_took(t, now + cost_us, cost_us, 100);
            k++;
        }
    }
    return now - 1 + cost_us;
}

/* Costly work spaces itself out: share x its mean cost after its end, never
 * sooner than the interval; one slow run does not stall it. */
static void test_tick_costly_work_waits_share_times_its_cost(void **state)
{
    lw_tick_t t;
    uint64_t end;

    (void)state;
    lw_tick_init(&t, INTERVAL);
    end = runs(&t, 10000, 64, 50);       /* 50 us a run: 5 ms apart */
    assert_false(lw_tick_due(&t, end + 4900));
    assert_true(lw_tick_due(&t, end + 5100));
    lw_tick_init(&t, INTERVAL);
    end = runs(&t, 10000, 64, 3);        /* 300 us < INTERVAL: the interval */
    assert_false(lw_tick_due(&t, end - 3 + INTERVAL - 1));
    assert_true(lw_tick_due(&t, end - 3 + INTERVAL));
    /* one run of 800 us among runs of 3 us: some 100 us mean, not 800 */
    lw_tick_took(&t, end + INTERVAL + 800, 800, 100);
    end += INTERVAL + 800;
    assert_false(lw_tick_due(&t, end + 9000));
    assert_true(lw_tick_due(&t, end + 11000));
    end = runs(&t, end + 11001, 32, 3);  /* and it fades */
    assert_true(lw_tick_due(&t, end - 3 + INTERVAL));
    /* an absurd cost: a wait past half the clock's range, not a wrap */
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 16050));
    lw_tick_took(&t, 16050, UINT64_MAX / 2, 100);
    assert_false(lw_tick_due(&t, 16051));
    assert_false(lw_tick_due(&t, UINT64_MAX / 2));
    lw_tick_took(&t, 16050, UINT64_MAX / 2, UINT32_MAX); /* the product overflows */
    assert_false(lw_tick_due(&t, UINT64_MAX - 1));
    /* a clock that jumps back still fires, from the firing's start */
    lw_tick_init(&t, INTERVAL);
    assert_true(lw_tick_due(&t, 1000000));
    lw_tick_took(&t, 1000100, 100, 100);
    assert_false(lw_tick_due(&t, 1000000 - INTERVAL));
    assert_true(lw_tick_due(&t, 1000000 - INTERVAL - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_huge_interval_fires_once),
        cmocka_unit_test(test_tick_first_call_is_due),
        cmocka_unit_test(test_tick_fires_at_most_once_per_interval),
        cmocka_unit_test(test_tick_zero_interval_always_fires),
        cmocka_unit_test(test_tick_fires_at_once_after_a_jump_back),
        cmocka_unit_test(test_tick_ignores_a_small_wobble_back),
        cmocka_unit_test(test_tick_costly_work_waits_share_times_its_cost),
    };
    return cmocka_run_group_tests_name("tick", tests, NULL, NULL);
}

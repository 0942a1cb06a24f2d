/* workclock: the axis is requests under traffic, time while memory moves
 * without them, and a gap of nothing counts at most a second. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "workclock.h"

#define MS 1000ull
#define S (1000 * MS)

static void test_workclock_under_traffic_the_axis_is_the_requests(void **state)
{
    lw_workclock_t c;
    uint64_t x = 0;

    (void)state;
    memset(&c, 0, sizeof(c));
    /* 1,000 requests a second for 60 s, looked at every 2 ms */
    for (uint64_t t = 0; t <= 60 * S; t += 2 * MS)
        x = lw_workclock_look(&c, t, t / MS, true);
    assert_int_equal(x, 60000 + 600); /* and ten ticks a second */
}

static void test_workclock_time_counts_while_memory_moves_without_requests(void **state)
{
    lw_workclock_t c;
    uint64_t x = 0, requests;
    double seconds;

    (void)state;
    memset(&c, 0, sizeof(c));
    /* a background thread's records every 100 ms for 30 s, one request a second */
    for (uint64_t t = 0; t <= 30 * S; t += 100 * MS)
        x = lw_workclock_look(&c, t, t / S, true);
    assert_int_equal(x, 30 + 300);
    lw_workclock_span(&c, 10 + 100, &requests, &seconds); /* x = 110: t = 10 s */
    /* from the kept point at or before it: 301 looks thinned to 64 */
    assert_true(requests >= 20 && requests <= 22);
    assert_true(seconds > 19.9 && seconds < 22.1);
}

static void test_workclock_a_gap_of_nothing_counts_a_second(void **state)
{
    lw_workclock_t c;
    uint64_t x;

    (void)state;
    memset(&c, 0, sizeof(c));
    lw_workclock_look(&c, 0, 100, true);
    /* a night of looks that see nothing */
    for (uint64_t t = 20 * MS; t < 8 * 3600 * S; t += 20 * MS)
        assert_int_equal(lw_workclock_look(&c, t, 100, false), 100);
    /* then a request: the night adds one second */
    x = lw_workclock_look(&c, 8 * 3600 * S, 101, true);
    assert_int_equal(x, 101 + 10);
}

static void test_workclock_never_goes_back(void **state)
{
    lw_workclock_t c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(lw_workclock_requests(&c), 0);
    lw_workclock_look(&c, 10 * S, 50, true);
    assert_int_equal(lw_workclock_look(&c, 11 * S, 50, true), 60);
    assert_int_equal(lw_workclock_look(&c, 5 * S, 40, true), 60); /* clock and count back */
    assert_int_equal(lw_workclock_look(&c, 5 * S + 500 * MS, 52, true), 67);
    assert_int_equal(lw_workclock_requests(&c), 52);
}

static void test_workclock_spans_of_a_long_history(void **state)
{
    lw_workclock_t c;
    uint64_t requests;
    double seconds;

    (void)state;
    memset(&c, 0, sizeof(c));
    /* a day at ten requests a second, looked at every 100 ms: far more
     * looks than points kept */
    for (uint64_t t = 0; t <= 86400 * S; t += 100 * MS)
        lw_workclock_look(&c, t, t / (100 * MS), true);
    /* the last hour: 36,000 requests and 3,600 s, to within the thinning */
    uint64_t end = 864000 + 864000;
    lw_workclock_span(&c, end - 72000, &requests, &seconds);
    assert_true(requests >= 36000 && requests <= 36000 + 864000 / 32);
    assert_true(seconds >= 3600 && seconds <= 3600 + 86400 / 32);
    /* a span beyond the history is measured from its start */
    lw_workclock_span(&c, 0, &requests, &seconds);
    assert_int_equal(requests, 864000);
    /* the last look's requests, whatever was thinned */
    assert_int_equal(lw_workclock_requests(&c), 864000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workclock_under_traffic_the_axis_is_the_requests),
        cmocka_unit_test(test_workclock_time_counts_while_memory_moves_without_requests),
        cmocka_unit_test(test_workclock_a_gap_of_nothing_counts_a_second),
        cmocka_unit_test(test_workclock_never_goes_back),
        cmocka_unit_test(test_workclock_spans_of_a_long_history),
    };
    return cmocka_run_group_tests_name("workclock", tests, NULL, NULL);
}

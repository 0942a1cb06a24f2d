/* slotstats: counters that never go down across respawns (data-driven
 * over a slot's readings), the smoothed growth rate, a new generation's
 * own rate, every allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "slotstats.h"

#include "failing_alloc.h"

static lw_slotstats_t *stats(uint32_t nworkers)
{
    lw_slotstats_t *s;

    allocs_left = -1;
    s = lw_slotstats_new(&alloc, nworkers);
    assert_non_null(s);
    return s;
}

/* A second's reading of slot `wid` and the totals it must leave. */
typedef struct step {
    uint32_t wid;
    lw_slot_reading_t in;    /* spawns, tracked, samples, lost */
    uint64_t samples, lost;  /* totals after it */
} step_t;

static const step_t respawns[] = {
    {1, {1, 100, 10, 0}, 10, 0},
    {2, {1, 100, 5, 1}, 15, 1},
    {1, {1, 100, 30, 2}, 35, 3},
    /* worker 1 respawned: its successor starts from 0; the 30 and 2 stay */
    {1, {2, 0, 0, 0}, 35, 3},
    {1, {2, 50, 4, 0}, 39, 3},
    /* a reading lower than the generation has shown (a torn moment): kept at its most */
    {1, {2, 50, 3, 0}, 39, 3},
    /* respawned twice between two looks: the slot's spawns jump by two */
    {2, {3, 0, 1, 0}, 40, 3},
    {2, {3, 0, 7, 5}, 46, 8},
    /* worker 1 respawned while its counts were still higher than its successor's will be */
    {1, {3, 10, 1, 1}, 47, 9},
};

static void test_slotstats_counters_never_go_down_across_respawns(void **state)
{
    lw_slotstats_t *s = stats(2);
    lw_slot_totals_t tot, before = {0, 0, 0};

    (void)state;
    for (size_t i = 0; i < sizeof(respawns) / sizeof(respawns[0]); i++) {
        assert_int_equal(lw_slotstats_update(s, respawns[i].wid, &respawns[i].in), 0);
        lw_slotstats_totals(s, &tot);
        assert_int_equal(tot.samples, respawns[i].samples);
        assert_int_equal(tot.lost, respawns[i].lost);
        assert_true(tot.samples >= before.samples && tot.lost >= before.lost);
        before = tot;
    }
    assert_int_equal(tot.tracked, 10 + 0); /* each slot's last reading */
    lw_slotstats_free(s);
    assert_int_equal(live_allocs, 0);
}

static void test_slotstats_growth_rate_is_smoothed(void **state)
{
    lw_slotstats_t *s = stats(1);
    lw_slot_view_t v;
    /* 1,000 bytes a second is 60,000 a minute, approached by fifths:
     * each second rate = (4 rate + 60,000) / 5 */
    static const int64_t rates[] = {12000, 21600, 29280, 35424, 40339, 44271, 47416};
    /* then flat: the rate fades by fifths, truncated toward zero */
    static const int64_t fading[] = {37932, 30345, 24276, 19420, 15536};

    (void)state;
    lw_slot_reading_t r = {1, 5000, 0, 0};
    lw_slotstats_update(s, 1, &r); /* the first generation's first reading: rate 0 */
    lw_slotstats_slot(s, 1, &v);
    assert_int_equal(v.growth_rate, 0);
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        r.tracked += 1000;
        lw_slotstats_update(s, 1, &r);
        lw_slotstats_slot(s, 1, &v);
        assert_int_equal(v.growth_rate, rates[i]);
        assert_int_equal(v.tracked, r.tracked);
    }
    for (size_t i = 0; i < sizeof(fading) / sizeof(fading[0]); i++) {
        lw_slotstats_update(s, 1, &r);
        lw_slotstats_slot(s, 1, &v);
        assert_int_equal(v.growth_rate, fading[i]);
    }
    /* shrinking is negative growth */
    r.tracked -= 5000;
    lw_slotstats_update(s, 1, &r);
    lw_slotstats_slot(s, 1, &v);
    assert_int_equal(v.growth_rate, (4 * 15536 - 5000 * 60) / 5);
    lw_slotstats_free(s);
}

static void test_slotstats_new_generation_restarts_its_rate(void **state)
{
    lw_slotstats_t *s = stats(2);
    lw_slot_view_t v;
    lw_slot_totals_t tot;

    (void)state;
    /* GIVEN worker 1 growing 6,000 bytes a second for a while */
    lw_slot_reading_t r = {1, 1000000, 0, 0};
    for (int i = 0; i < 20; i++) {
        r.tracked += 6000;
        lw_slotstats_update(s, 1, &r);
    }
    lw_slotstats_slot(s, 1, &v);
    assert_true(v.growth_rate > 300000);
    /* WHEN it is respawned, and its successor tracks far less */
    lw_slot_reading_t next = {2, 20000, 0, 0};
    lw_slotstats_update(s, 1, &next);
    /* THEN its rate starts at 0, not at the fall from the old generation */
    lw_slotstats_slot(s, 1, &v);
    assert_int_equal(v.growth_rate, 0);
    assert_int_equal(v.tracked, 20000);
    /* and grows from its own readings */
    next.tracked += 500;
    lw_slotstats_update(s, 1, &next);
    lw_slotstats_slot(s, 1, &v);
    assert_int_equal(v.growth_rate, 500 * 60 / 5);
    lw_slotstats_totals(s, &tot);
    assert_int_equal(tot.tracked, 20500);
    /* out of range: refused, and a zero view */
    assert_int_equal(lw_slotstats_update(s, 0, &next), -EINVAL);
    assert_int_equal(lw_slotstats_update(s, 3, &next), -EINVAL);
    lw_slotstats_slot(s, 3, &v);
    assert_int_equal(v.tracked, 0);
    assert_int_equal(v.growth_rate, 0);
    lw_slotstats_free(s);
}

static void test_slotstats_every_allocation_failure_is_clean(void **state)
{
    (void)state;
    live_allocs = 0;
    for (int fail_at = 0;; fail_at++) {
        allocs_left = fail_at;
        lw_slotstats_t *s = lw_slotstats_new(&alloc, 8192);
        allocs_left = -1;
        if (s) {
            assert_true(fail_at > 0);
            lw_slotstats_free(s);
            break;
        }
        assert_int_equal(live_allocs, 0);
    }
    assert_int_equal(live_allocs, 0);
    assert_null(lw_slotstats_new(&alloc, 0));
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slotstats_counters_never_go_down_across_respawns),
        cmocka_unit_test(test_slotstats_growth_rate_is_smoothed),
        cmocka_unit_test(test_slotstats_new_generation_restarts_its_rate),
        cmocka_unit_test(test_slotstats_every_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests_name("slotstats", tests, NULL, NULL);
}

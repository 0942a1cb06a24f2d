/* oomwatch: the trend of a worker's RSS, its ETA and the warnings' cadence
 * (data-driven over linear series), a new generation, a limit shared by
 * all workers, what LAST WORDS reads, every allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "oomwatch.h"

#include "failing_alloc.h"

#define KIB INT64_C(1024)
#define MIB (KIB * KIB)
#define LIMIT (1024 * MIB)
#define HORIZON 1800
#define PID 700
#define MAX_WARNINGS 3

static lw_oomwatch_t *watch(uint32_t nworkers, uint64_t limit, bool shared)
{
    lw_oomwatch_cfg_t cfg = {limit, shared, HORIZON};
    lw_oomwatch_t *ow;

    allocs_left = -1;
    ow = lw_oomwatch_new(&alloc, nworkers, &cfg);
    assert_non_null(ow);
    return ow;
}

/* One round at second `t` with worker 1 only. */
static lw_oom_t round_of_one(lw_oomwatch_t *ow, int t, int64_t pid, uint64_t rss)
{
    lw_oom_t o;

    lw_oomwatch_begin(ow, (double)t);
    o = lw_oomwatch_look(ow, 1, pid, rss);
    assert_false(lw_oomwatch_end(ow).warn);
    return o;
}

/* A worker whose RSS goes from `start` by `per_second`, looked at once a
 * second; the looks that must warn, and the ETA each must say. */
typedef struct oom_case {
    const char *name;
    uint64_t limit;
    int64_t start, per_second;
    int looks;
    int warn_at[MAX_WARNINGS];   /* look numbers, -1 ends */
    uint64_t eta[MAX_WARNINGS];
} oom_case_t;

static const oom_case_t cases[] = {
    /* a trend from the fifth reading: (1024 - 504) MiB at 1 MiB/s */
    {"rising to a warning", LIMIT, 500 * MIB, MIB, 30, {4, -1}, {520}},
    /* about 5,200 s away, beyond the horizon */
    {"slow, above the horizon", LIMIT, 500 * MIB, 100 * KIB, 200, {-1}, {0}},
    /* again only once the ETA has halved: 520 s, then 260 s, then 130 s */
    {"again when halved", LIMIT, 500 * MIB, MIB, 400, {4, 264, 394}, {520, 260, 130}},
    {"no limit known", 0, 500 * MIB, MIB, 400, {-1}, {0}},
    {"flat", LIMIT, 900 * MIB, 0, 100, {-1}, {0}},
    {"shrinking", LIMIT, 900 * MIB, -MIB, 100, {-1}, {0}},
    /* over the limit already: an ETA of 1 s, said once (1 never halves) */
    {"over the limit", LIMIT, 1100 * MIB, KIB, 100, {4, -1}, {1}},
};

static void test_oomwatch_every_series_warns_when_it_must(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const oom_case_t *k = &cases[c];
        lw_oomwatch_t *ow = watch(1, k->limit, false);
        int said = 0;

        print_message("%s\n", k->name);
        for (int t = 0; t < k->looks; t++) {
            uint64_t rss = (uint64_t)(k->start + k->per_second * t);
            lw_oom_t o = round_of_one(ow, t, PID, rss);
            assert_int_equal(o.rss, rss);
            assert_int_equal(lw_oomwatch_eta(ow, 1), o.eta);
            if (!o.warn)
                continue;
            assert_true(said < MAX_WARNINGS);
            assert_int_equal(t, k->warn_at[said]);
            assert_int_equal(o.eta, k->eta[said]);
            assert_true(o.eta < HORIZON);
            said++;
        }
        assert_true(said == MAX_WARNINGS || k->warn_at[said] == -1);
        assert_int_equal(lw_oomwatch_warned(ow, 1, PID), said > 0);
        lw_oomwatch_free(ow);
    }
    assert_int_equal(live_allocs, 0);
}

static void test_oomwatch_too_few_points_give_no_rate(void **state)
{
    lw_oomwatch_t *ow = watch(1, LIMIT, false);
    lw_oom_t o;

    (void)state;
    for (int t = 0; t < LW_OOM_TREND_POINTS - 1; t++) {
        o = round_of_one(ow, t, PID, (uint64_t)(1000 * MIB + t * MIB));
        assert_true(o.rate == 0.0);
        assert_int_equal(o.eta, 0);
        assert_false(o.warn);
    }
    o = round_of_one(ow, LW_OOM_TREND_POINTS - 1, PID, 1000 * MIB + 4 * MIB);
    assert_true(o.rate == (double)MIB);
    assert_int_equal(o.eta, 20);
    assert_true(o.warn);
    lw_oomwatch_free(ow);
}

static void test_oomwatch_a_new_pid_starts_its_own_series(void **state)
{
    lw_oomwatch_t *ow = watch(1, LIMIT, false);
    uint64_t rss = 0;
    double rate = 0.0;
    int t = 0;
    lw_oom_t o;

    (void)state;
    /* GIVEN a generation warned about at 520 s */
    for (; t < 5; t++)
        o = round_of_one(ow, t, PID, (uint64_t)(500 * MIB + t * MIB));
    assert_true(o.warn);
    assert_int_equal(lw_oomwatch_last(ow, 1, PID, &rss, &rate), 0);
    assert_int_equal(rss, 504 * MIB);
    assert_true(rate == (double)MIB);
    /* WHEN its successor takes the slot, at an ETA that is not half of it */
    for (int look = 0; look < LW_OOM_TREND_POINTS; look++, t++) {
        o = round_of_one(ow, t, PID + 1, (uint64_t)(500 * MIB + look * MIB));
        /* THEN its trend starts again from its own readings */
        assert_true(look == LW_OOM_TREND_POINTS - 1 ? o.rate == (double)MIB : o.rate == 0.0);
        /* and the ended generation's warning stays readable until a new one */
        assert_int_equal(lw_oomwatch_warned(ow, 1, PID), !o.warn);
    }
    /* and its own cadence warns at once */
    assert_true(o.warn);
    assert_int_equal(o.eta, 520);
    assert_true(lw_oomwatch_warned(ow, 1, PID + 1));
    /* the ended generation's last reading is gone with its series */
    assert_int_equal(lw_oomwatch_last(ow, 1, PID, &rss, &rate), -ENOENT);
    assert_int_equal(rss, 504 * MIB);
    lw_oomwatch_free(ow);
}

static void test_oomwatch_a_shared_limit_judges_the_sum(void **state)
{
    lw_oomwatch_t *ow = watch(3, LIMIT, true);
    int warnings = 0;

    (void)state;
    /* three workers, 200 MiB each, each growing 1 MiB/s, against one cgroup limit */
    for (int t = 0; t < 120; t++) {
        lw_oomwatch_begin(ow, (double)t);
        for (uint32_t wid = 1; wid <= 3; wid++) {
            /* worker 3 is respawned at 100 s: the cadence stays one for all */
            int64_t pid = PID + wid + (wid == 3 && t >= 100 ? 10 : 0);
            lw_oom_t o = lw_oomwatch_look(ow, wid, pid, (uint64_t)(200 * MIB + t * MIB));
            assert_int_equal(o.eta, 0); /* not judged alone */
            assert_false(o.warn);
        }
        lw_oom_t all = lw_oomwatch_end(ow);
        assert_int_equal(all.rss, 600 * MIB + 3 * t * MIB);
        for (uint32_t wid = 1; wid <= 3; wid++)
            assert_int_equal(lw_oomwatch_eta(ow, wid), all.eta);
        if (t < LW_OOM_TREND_POINTS - 1) {
            assert_true(all.rate == 0.0);
            continue;
        }
        if (t == LW_OOM_TREND_POINTS - 1) { /* (1024 - 612) MiB at 3 MiB/s */
            assert_true(all.rate == 3.0 * MIB);
            assert_int_equal(all.eta, 137);
            assert_true(all.warn);
        }
        /* the next once 137 s has halved (68 s, at 73 s), and halved again
         * (34 s, at 107 s): worker 3's new series lowered the sum's trend
         * meanwhile, no new cadence */
        assert_int_equal(all.warn, t == LW_OOM_TREND_POINTS - 1 || t == 73 || t == 107);
        warnings += all.warn;
    }
    assert_int_equal(warnings, 3);
    /* a shared warning is no worker generation's */
    assert_false(lw_oomwatch_warned(ow, 1, PID + 1));
    lw_oomwatch_free(ow);
}

static void test_oomwatch_a_worker_not_read_shows_no_eta(void **state)
{
    lw_oomwatch_t *ow = watch(2, LIMIT, false);

    (void)state;
    for (int t = 0; t < 10; t++) {
        lw_oomwatch_begin(ow, (double)t);
        lw_oomwatch_look(ow, 1, PID, (uint64_t)(500 * MIB + t * MIB));
        if (t < 9) /* worker 2's /proc cannot be read at the last round */
            lw_oomwatch_look(ow, 2, PID + 1, (uint64_t)(500 * MIB + t * MIB));
        lw_oomwatch_end(ow);
    }
    assert_int_equal(lw_oomwatch_eta(ow, 1), 515);
    assert_int_equal(lw_oomwatch_eta(ow, 2), 0);
    /* its last reading is still there */
    uint64_t rss;
    double rate;
    assert_int_equal(lw_oomwatch_last(ow, 2, PID + 1, &rss, &rate), 0);
    assert_int_equal(rss, 508 * MIB);
    /* out of range: nothing */
    assert_int_equal(lw_oomwatch_eta(ow, 3), 0);
    assert_int_equal(lw_oomwatch_last(ow, 0, PID, &rss, &rate), -EINVAL);
    assert_int_equal(lw_oomwatch_look(ow, 3, PID, MIB).rss, 0);
    assert_false(lw_oomwatch_warned(ow, 3, 0));
    lw_oomwatch_free(ow);
}

static void test_oomwatch_every_allocation_failure_is_clean(void **state)
{
    lw_oomwatch_cfg_t cfg = {LIMIT, false, HORIZON};

    (void)state;
    live_allocs = 0;
    for (int fail_at = 0;; fail_at++) {
        allocs_left = fail_at;
        lw_oomwatch_t *ow = lw_oomwatch_new(&alloc, 4, &cfg);
        allocs_left = -1;
        if (ow) {
            lw_oomwatch_free(ow);
            assert_true(fail_at > 0);
            break;
        }
        assert_int_equal(live_allocs, 0);
    }
    assert_int_equal(live_allocs, 0);
    assert_null(lw_oomwatch_new(&alloc, 0, &cfg));
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oomwatch_every_series_warns_when_it_must),
        cmocka_unit_test(test_oomwatch_too_few_points_give_no_rate),
        cmocka_unit_test(test_oomwatch_a_new_pid_starts_its_own_series),
        cmocka_unit_test(test_oomwatch_a_shared_limit_judges_the_sum),
        cmocka_unit_test(test_oomwatch_a_worker_not_read_shows_no_eta),
        cmocka_unit_test(test_oomwatch_every_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests_name("oomwatch", tests, NULL, NULL);
}

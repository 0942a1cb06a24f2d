/* endcause: why a worker generation ended, each cause and its order, and the
 * requests each generation served when a read of its slot fails. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "endcause.h"

#define MIB (UINT64_C(1) << 20)

/* Readings of a generation that ended with nothing to say about it. */
static lw_endcause_readings_t quiet(void)
{
    lw_endcause_readings_t r = {.oom_kills_seen = 3, .oom_kills = 3};
    return r;
}

static void test_endcause_gone_when_nothing_explains_it(void **state)
{
    lw_endcause_readings_t r = quiet();

    (void)state;
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    /* limits set, but far from them */
    r.reload_on_rss = 100 * MIB;
    r.rss_high = 50 * MIB;
    r.rss_last = 40 * MIB;
    r.rss_rate = 1000.0;
    r.max_requests = 1000;
    r.served_known = true;
    r.served = 10;
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
}

static void test_endcause_an_oom_kill_comes_first(void **state)
{
    lw_endcause_readings_t r = quiet();

    (void)state;
    r.oom_kills = 4;
    /* whatever else would hold */
    r.reload_on_rss = 100 * MIB;
    r.rss_high = 100 * MIB;
    r.max_requests = 10;
    r.served_known = true;
    r.served = 10;
    assert_int_equal(lw_endcause_judge(&r), LW_END_OOM_KILLED);
    r.oom_kills = 3; /* already explained */
    assert_int_not_equal(lw_endcause_judge(&r), LW_END_OOM_KILLED);
    r.oom_kills = 0; /* the counter could not be read */
    assert_int_not_equal(lw_endcause_judge(&r), LW_END_OOM_KILLED);
}

static void test_endcause_reload_on_rss_by_its_highest_rss(void **state)
{
    lw_endcause_readings_t r = quiet();

    (void)state;
    r.reload_on_rss = 100 * MIB;
    r.rss_high = 90 * MIB; /* within 10% */
    assert_int_equal(lw_endcause_judge(&r), LW_END_RELOAD_ON_RSS);
    r.rss_high = 89 * MIB;
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    r.rss_high = 250 * MIB; /* leaked far past it between two looks */
    assert_int_equal(lw_endcause_judge(&r), LW_END_RELOAD_ON_RSS);
    r.reload_on_rss = 0;
    r.evil_reload_on_rss = 100 * MIB;
    assert_int_equal(lw_endcause_judge(&r), LW_END_EVIL_RELOAD_ON_RSS);
}

static void test_endcause_reload_on_rss_by_its_trend(void **state)
{
    lw_endcause_readings_t r = quiet();

    (void)state;
    r.reload_on_rss = 100 * MIB;
    r.rss_last = 80 * MIB;
    r.rss_rate = (double)(8 * MIB); /* per second: 92 MiB 1.5 s later */
    assert_int_equal(lw_endcause_judge(&r), LW_END_RELOAD_ON_RSS);
    r.rss_rate = (double)(4 * MIB); /* 86 MiB */
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    r.rss_last = 0; /* no reading: the trend alone says nothing */
    r.rss_rate = (double)(100 * MIB);
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
}

static void test_endcause_max_requests(void **state)
{
    lw_endcause_readings_t r = quiet();

    (void)state;
    r.max_requests = 100;
    r.served_known = true;
    r.served = 98; /* short by the successor's first requests */
    assert_int_equal(lw_endcause_judge(&r), LW_END_MAX_REQUESTS);
    r.served = 97;
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    r.served = 100000;
    r.served_known = false; /* not known: not claimed */
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    r.served_known = true;
    r.max_requests = 0; /* not set */
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
}

static void test_endcause_served_counts_from_each_start(void **state)
{
    lw_endcause_start_t start = {0};
    uint64_t served = 7;

    (void)state;
    /* the slot's count is cumulative: each generation's share is its difference */
    assert_true(lw_endcause_served(&start, 0, 100, &served));
    assert_int_equal(served, 100);
    assert_true(lw_endcause_served(&start, 0, 130, &served));
    assert_int_equal(served, 30);
    assert_true(lw_endcause_served(&start, 0, 130, &served));
    assert_int_equal(served, 0);
    /* a count that went back (it never should): not known */
    assert_false(lw_endcause_served(&start, 0, 120, &served));
    assert_int_equal(served, 0);
    assert_true(lw_endcause_served(&start, 0, 125, &served));
    assert_int_equal(served, 5);
}

static void test_endcause_a_failed_read_names_no_wrong_cause(void **state)
{
    lw_endcause_start_t start = {0};
    uint64_t served = 7;
    lw_endcause_readings_t r = quiet();

    (void)state;
    r.max_requests = 50;
    assert_true(lw_endcause_served(&start, 0, 40, &served));
    /* the successor was claiming the slot: -EAGAIN, and whatever the view
     * held (never filled; 0 here, as a fresh stack often holds) is no count */
    r.served_known = lw_endcause_served(&start, -EAGAIN, 0, &r.served);
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    assert_false(r.served_known);
    assert_int_equal(r.served, 0);
    /* the next generation's start was not read: its share is not known either,
     * so 140 requests on the slot do not make it a --max-requests recycle */
    r.served_known = lw_endcause_served(&start, 0, 140, &r.served);
    assert_int_equal(lw_endcause_judge(&r), LW_END_GONE);
    assert_false(r.served_known);
    /* and the one after counts again from there */
    r.served_known = lw_endcause_served(&start, 0, 190, &r.served);
    assert_true(r.served_known);
    assert_int_equal(r.served, 50);
    assert_int_equal(lw_endcause_judge(&r), LW_END_MAX_REQUESTS);
}

static void test_endcause_texts(void **state)
{
    (void)state;
    assert_string_equal(lw_endcause_text(LW_END_OOM_KILLED), "killed by the kernel's OOM killer");
    assert_string_equal(lw_endcause_text(LW_END_RELOAD_ON_RSS), "recycled by --reload-on-rss");
    assert_string_equal(lw_endcause_text(LW_END_EVIL_RELOAD_ON_RSS),
                        "killed by --evil-reload-on-rss");
    assert_string_equal(lw_endcause_text(LW_END_MAX_REQUESTS), "recycled by --max-requests");
    assert_string_equal(lw_endcause_text(LW_END_GONE),
                        "gone: a signal, a crash or a reload (uWSGI's log says which)");
    assert_string_equal(lw_endcause_text((lw_endcause_t)99), lw_endcause_text(LW_END_GONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endcause_gone_when_nothing_explains_it),
        cmocka_unit_test(test_endcause_an_oom_kill_comes_first),
        cmocka_unit_test(test_endcause_reload_on_rss_by_its_highest_rss),
        cmocka_unit_test(test_endcause_reload_on_rss_by_its_trend),
        cmocka_unit_test(test_endcause_max_requests),
        cmocka_unit_test(test_endcause_served_counts_from_each_start),
        cmocka_unit_test(test_endcause_a_failed_read_names_no_wrong_cause),
        cmocka_unit_test(test_endcause_texts),
    };
    return cmocka_run_group_tests_name("endcause", tests, NULL, NULL);
}

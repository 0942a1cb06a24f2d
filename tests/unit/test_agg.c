/* agg: records from several workers become one view; respawns, rollups,
 * malformed input, alerts and their text; every allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"

#include "failing_alloc.h"

static lw_agg_cfg_t config(void)
{
    lw_agg_cfg_t c = {.nworkers = 2, .max_sites = 64, .local_sites = 128, .local_endpoints = 16,
                      .max_endpoints = 16, .detect = {100000, 2, 1}};
    return c;
}

#include "agg_records.h"

#define APP "/srv/app.py\0handler\0/srv/app.py\0handler\0/srv/app.py\0" "12\0handler\0"
#define LIB "/usr/lib/python3.11/logging/__init__.py\0getLogger\0/srv/app.py\0handler\0"

static lw_agg_t *fresh(void)
{
    lw_agg_cfg_t c = config();
    allocs_left = -1;
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    assert_non_null(agg);
    return agg;
}

static void test_agg_sums_one_site_across_workers(void **state)
{
    lw_agg_t *agg = fresh();

    (void)state;
    hello(101, 1);
    site(5, 12, 12, APP, sizeof(APP) - 1, 1);
    endpoint(1, "/orders/{id}");
    delta(5, 1000, 1);
    delta(5, 500, 1);
    feed(agg, 1);
    hello(202, 1);
    site(9, 12, 12, APP, sizeof(APP) - 1, 1); /* same identity, other local id */
    delta(9, 300, 0);
    feed(agg, 2);
    uint32_t id = find(agg, "/srv/app.py", 12, false);
    const lw_agg_site_t *s = lw_agg_site(agg, id);
    assert_int_equal(s->live, 1800);
    assert_int_equal(lw_agg_share(agg, id, 1), 1500);
    assert_int_equal(lw_agg_share(agg, id, 2), 300);
    assert_string_equal(lw_agg_field(s, 1), "handler");
    assert_string_equal(lw_agg_field(s, 4), "/srv/app.py");
    assert_string_equal(lw_agg_field(s, 5), "12");
    assert_string_equal(lw_agg_endpoint(agg, s->top[0].endpoint), "/orders/{id}");
    assert_int_equal(s->top[0].bytes, 1500);
    lw_agg_stats_t st;
    lw_agg_stats(agg, &st);
    assert_int_equal(st.deltas, 3);
    assert_int_equal(st.malformed, 0);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_agg_respawn_removes_the_dead_workers_share(void **state)
{
    lw_agg_t *agg = fresh();

    (void)state;
    hello(101, 1);
    site(5, 12, 12, APP, sizeof(APP) - 1, 1);
    delta(5, 4000, 0);
    feed(agg, 1);
    hello(202, 1);
    site(1, 12, 12, APP, sizeof(APP) - 1, 1);
    delta(1, 1000, 0);
    feed(agg, 2);
    /* worker 1 is respawned: a new HELLO; its old ids mean nothing now */
    hello(303, 2);
    delta(5, 77, 0); /* a delta for an undefined id: counted, ignored */
    feed(agg, 1);
    uint32_t id = find(agg, "/srv/app.py", 12, false);
    const lw_agg_site_t *s = lw_agg_site(agg, id);
    assert_int_equal(s->live, 1000);
    assert_int_equal(lw_agg_share(agg, id, 1), 0);
    lw_agg_stats_t st;
    lw_agg_stats(agg, &st);
    assert_int_equal(st.malformed, 1);
    lw_agg_free(agg);
}

static void test_agg_library_sites_roll_up_to_the_app_line(void **state)
{
    lw_agg_t *agg = fresh();

    (void)state;
    hello(101, 1);
    site(1, 1353, 10, LIB, sizeof(LIB) - 1, 0);
    site(2, 1278, 10, LIB, sizeof(LIB) - 1, 0);
    delta(1, 600, 0);
    delta(2, 400, 0);
    feed(agg, 1);
    uint32_t r = find(agg, "/srv/app.py", 10, true);
    const lw_agg_site_t *roll = lw_agg_site(agg, r);
    assert_int_equal(roll->live, 1000);
    assert_true(roll->judged);
    assert_false(lw_agg_site(agg, find(agg, "/usr/lib/python3.11/logging/__init__.py", 1353,
                                           false))->judged);
    lw_agg_free(agg);
}

static void test_agg_malformed_records_are_counted_not_trusted(void **state)
{
    lw_agg_t *agg = fresh();
    lw_agg_stats_t st;
    lw_record_t bogus;

    (void)state;
    assert_int_equal(lw_agg_feed(agg, 0, recs, 0), -EINVAL);
    assert_int_equal(lw_agg_feed(agg, 3, recs, 0), -EINVAL);
    text_records("stray", 5);            /* TEXT without a SITE */
    delta(100000, 5, 0);                 /* id out of range */
    memset(&bogus, 0, sizeof(bogus));
    bogus.kind = 99;
    recs[nrecs++] = bogus;
    memset(&bogus, 0, sizeof(bogus));
    bogus.kind = LW_REC_SITE;
    bogus.u.site.text_len = 1u << 30;    /* absurd length */
    recs[nrecs++] = bogus;
    feed(agg, 1);
    lw_agg_stats(agg, &st);
    assert_int_equal(st.malformed, 4);
    assert_int_equal(st.sites, 1);
    lw_agg_free(agg);
}

static void test_agg_full_table_folds_into_other_sites(void **state)
{
    lw_agg_cfg_t c = config();
    char text[64];

    (void)state;
    c.max_sites = 3;
    allocs_left = -1;
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    hello(1, 1);
    for (uint32_t i = 0; i < 5; i++) {
        int n = snprintf(text, sizeof(text), "/f%u.py%cf%c%c", i, 0, 0, 0);
        site(i, 1, 0, text, (size_t)n + 1, 0);
        delta(i, 10, 0);
    }
    feed(agg, 1);
    lw_agg_stats_t st;
    lw_agg_stats(agg, &st);
    assert_int_equal(st.sites, 3);
    assert_int_equal(st.overflowed, 3);
    assert_int_equal(lw_agg_site(agg, 0)->live, 30);
    lw_agg_free(agg);
}

static void test_agg_judges_and_describes_a_leak(void **state)
{
    lw_agg_t *agg = fresh();
    lw_alert_t alerts[4];
    size_t total = 0;
    char text[4096];

    (void)state;
    hello(101, 1);
    site(5, 12, 12, APP, sizeof(APP) - 1, 1);
    endpoint(1, "/orders/{id}");
    feed(agg, 1);
    for (uint64_t req = 1; req <= 400 && total == 0; req++) {
        delta(5, 2000, 1);
        feed(agg, 1);
        total += lw_agg_judge(agg, req, alerts, 4);
    }
    assert_int_equal(total, 1);
    size_t n = lw_agg_describe(agg, alerts[0].site, text, sizeof(text));
    assert_int_equal(n, strlen(text));
    assert_true(!strncmp(text, "[leakwatch] LEAK /srv/app.py:12 in handler(): +", 47));
    assert_non_null(strstr(text, "on workers 1\n"));
    assert_non_null(strstr(text, "[leakwatch]   endpoints: /orders/{id} (+"));
    assert_non_null(strstr(text, "[leakwatch]     /srv/app.py:12 in handler()\n"));
    /* every line is a leakwatch line */
    for (char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_true(!strncmp(line, "[leakwatch]", 11));
    /* a tiny buffer is cut, never overrun */
    char small[16];
    assert_true(lw_agg_describe(agg, alerts[0].site, small, sizeof(small)) < sizeof(small));
    lw_agg_free(agg);
}

static void test_agg_flat_small_sites_carry_no_detector(void **state)
{
    lw_agg_t *agg = fresh();
    lw_alert_t alerts[4];

    (void)state;
    hello(101, 1);
    site(5, 12, 12, APP, sizeof(APP) - 1, 1);
    delta(5, 60000, 0); /* above T/4 (25000): judged */
    feed(agg, 1);
    lw_agg_judge(agg, 100, alerts, 4);
    uint32_t id = find(agg, "/srv/app.py", 12, false);
    assert_non_null(lw_agg_site(agg, id)->det);
    delta(5, -55000, 0); /* back under T/8: its detector goes */
    feed(agg, 1);
    lw_agg_judge(agg, 200, alerts, 4);
    assert_null(lw_agg_site(agg, id)->det);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

/* Two workers each fill a buffer to 0.75 T and empty it, with periods that
 * drift in and out of phase: when they align, the sum climbs from near 0 to
 * 1.5 T in step, like a leak, but no share ever leaks. A steady leak in the
 * same run is still announced. */
static void test_agg_per_worker_sawtooths_are_not_a_leak(void **state)
{
    lw_agg_t *agg = fresh(); /* T = 100000 */
    lw_alert_t alerts[4];
    size_t saw_alerts = 0, leak_alerts = 0;
    int64_t level[3] = {0, 0, 0};

    (void)state;
    hello(1, 1);
    site(1, 12, 12, APP, sizeof(APP) - 1, 1);
    feed(agg, 1);
    hello(2, 1);
    site(1, 12, 12, APP, sizeof(APP) - 1, 1);
    site(2, 40, 40, "/srv/leak.py\0f\0\0\0", 18, 0);
    delta(1, 37500, 0); /* worker 2 starts half full: out of phase at first */
    level[2] = 37500;
    feed(agg, 2);
    for (uint64_t req = 1; req <= 20000; req++) {
        uint32_t w = (uint32_t)(req % 2) + 1;
        int64_t step = w == 1 ? 1500 : 1531; /* 50 and 49 steps to 0.75 T */
        if (level[w] + step > 75000) {
            delta(1, -level[w], 0);
            level[w] = 0;
        }
        else {
            delta(1, step, 0);
            level[w] += step;
        }
        if (w == 2 && req % 20 == 1)
            delta(2, 1000, 0); /* worker 2 leaks 1000 every 10 of its requests */
        feed(agg, w);
        size_t n = lw_agg_judge(agg, req, alerts, 4);
        for (size_t i = 0; i < n; i++) {
            if (lw_agg_site(agg, alerts[i].site)->line == 12)
                saw_alerts++;
            else
                leak_alerts++;
        }
    }
    assert_int_equal(saw_alerts, 0);
    assert_true(leak_alerts >= 1);
    lw_agg_free(agg);
}

static void test_agg_every_allocation_failure_is_clean(void **state)
{
    lw_agg_cfg_t c = config();

    (void)state;
    for (int k = 0;; k++) {
        allocs_left = k;
        live_allocs = 0;
        lw_agg_t *agg = lw_agg_new(&c, &alloc);
        if (!agg) {
            assert_int_equal(live_allocs, 0);
            continue;
        }
        /* then feed under pressure: sites that cannot be stored fold into site 0 */
        allocs_left = 1;
        hello(1, 1);
        site(5, 12, 12, APP, sizeof(APP) - 1, 1);
        delta(5, 100, 0);
        feed(agg, 1);
        allocs_left = -1;
        lw_agg_free(agg);
        assert_int_equal(live_allocs, 0);
        break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agg_sums_one_site_across_workers),
        cmocka_unit_test(test_agg_respawn_removes_the_dead_workers_share),
        cmocka_unit_test(test_agg_library_sites_roll_up_to_the_app_line),
        cmocka_unit_test(test_agg_malformed_records_are_counted_not_trusted),
        cmocka_unit_test(test_agg_full_table_folds_into_other_sites),
        cmocka_unit_test(test_agg_judges_and_describes_a_leak),
        cmocka_unit_test(test_agg_flat_small_sites_carry_no_detector),
        cmocka_unit_test(test_agg_per_worker_sawtooths_are_not_a_leak),
        cmocka_unit_test(test_agg_every_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests_name("agg", tests, NULL, NULL);
}

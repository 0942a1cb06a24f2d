/* expo: the Prometheus text exposition: escaping of label values, HELP and
 * TYPE for every family, bounded site series, every allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

#include "failing_alloc.h"

#include "agg_records.h"

/* ---- an aggregator with sites named as hostile as file names get ---- */
static lw_agg_t *hostile_agg(void)
{
    lw_agg_cfg_t c = {.nworkers = 2, .max_sites = 64, .local_sites = 128, .local_endpoints = 16,
                      .max_endpoints = 16, .detect = {100000, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);

    assert_non_null(agg);
    hello(101, 1);
    named_site(1, 7, "/srv/we\"ird\\dir/a\nb.py", "handler");
    named_site(2, 9, "/srv/app.py", "view");
    named_site(3, 11, "/srv/small.py", "tiny");
    delta(1, 5000, 0);
    delta(2, 3000, 0);
    delta(3, 10, 0);
    feed(agg, 1);
    return agg;
}

static const lw_report_worker_t workers[] = {
    {.id = 1, .pid = 101, .requests = 10, .rss = 31457280, .tracked = 8010, .oom_eta = 95},
    {.id = 2, .pid = 102, .requests = 12, .rss = 30000000, .tracked = 0, .oom_eta = 0},
};
static const lw_expo_kind_t kinds[] = {{"LEAK", 3}, {"NATIVE", 0}, {"OOM", 1}};

static char *render(const lw_agg_t *agg, uint32_t top, size_t *len)
{
    lw_expo_input_t in = {workers, 2, agg, top, kinds, 3, 4242, 0};
    return lw_expo_render(&in, &alloc, len);
}

static void test_expo_escape_quotes_backslashes_and_newlines(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(lw_expo_escape("a\"b\\c\nd", out, sizeof(out)), 10);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    assert_int_equal(lw_expo_escape("plain.py", out, sizeof(out)), 8);
    assert_string_equal(out, "plain.py");
}

static void test_expo_escape_cuts_between_escapes(void **state)
{
    char out[5];

    (void)state;
    /* "ab" fits, the escape of the quote would end at the NUL's place: cut before it */
    assert_int_equal(lw_expo_escape("ab\"cd", out, sizeof(out)), 4);
    assert_string_equal(out, "ab\\\"");
    assert_int_equal(lw_expo_escape("abc\"d", out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
}

static void test_expo_every_family_has_help_and_type(void **state)
{
    static const char *const families[] = {
        "leakwatch_site_live_bytes gauge",   "leakwatch_site_growth_bytes gauge",
        "leakwatch_worker_tracked_bytes gauge", "leakwatch_worker_rss_bytes gauge",
        "leakwatch_worker_oom_eta_seconds gauge", "leakwatch_alerts_total counter",
        "leakwatch_samples_total counter",   "leakwatch_lost_total counter",
    };
    char line[128];
    size_t len;
    char *text = render(NULL, 10, &len);

    (void)state;
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
        assert_non_null(strstr(text, line));
        snprintf(line, sizeof(line), "# HELP %.*s ", (int)strcspn(families[i], " "), families[i]);
        assert_non_null(strstr(text, line));
    }
    assert_non_null(strstr(text, "leakwatch_worker_rss_bytes{worker=\"1\"} 31457280\n"));
    assert_non_null(strstr(text, "leakwatch_worker_oom_eta_seconds{worker=\"1\"} 95\n"));
    assert_non_null(strstr(text, "leakwatch_alerts_total{kind=\"LEAK\"} 3\n"));
    assert_non_null(strstr(text, "leakwatch_samples_total 4242\n"));
    assert_non_null(strstr(text, "leakwatch_lost_total 0\n"));
    assert_null(strstr(text, "leakwatch_site_live_bytes{")); /* no sites yet */
    t_free(text);
    assert_int_equal(live_allocs, 0);
}

static void test_expo_site_labels_are_escaped(void **state)
{
    lw_agg_t *agg = hostile_agg();
    size_t len;
    char *text = render(agg, 10, &len);

    (void)state;
    assert_non_null(text);
    assert_non_null(strstr(text, "leakwatch_site_live_bytes{file=\"/srv/we\\\"ird\\\\dir/a\\nb.py\","
                                 "line=\"7\",function=\"handler\",via_libraries=\"false\"} 5000\n"));
    /* every line is a comment or "name{labels} value" or "name value": no raw newline in a label */
    for (char *l = text; *l; l = strchr(l, '\n') + 1) {
        size_t n = strcspn(l, "\n");
        assert_true(l[0] == '#' || strncmp(l, "leakwatch_", 10) == 0);
        assert_true(l[n] == '\n');
    }
    t_free(text);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_expo_site_series_are_bounded(void **state)
{
    lw_agg_t *agg = hostile_agg();
    size_t len, n = 0;
    char *text = render(agg, 2, &len);

    (void)state;
    for (char *p = text; (p = strstr(p, "leakwatch_site_live_bytes{")); p++)
        n++;
    assert_int_equal(n, 2); /* the two largest; the 10-byte site is left out */
    assert_null(strstr(text, "small.py"));
    t_free(text);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_expo_every_allocation_failure_is_clean(void **state)
{
    lw_agg_t *agg = hostile_agg();
    int base = live_allocs;
    size_t len;

    (void)state;
    for (int fail_at = 0; fail_at < 64; fail_at++) {
        allocs_left = fail_at;
        char *text = render(agg, 10, &len);
        allocs_left = -1;
        if (text) {
            t_free(text);
            assert_int_equal(live_allocs, base);
            break;
        }
        assert_int_equal(live_allocs, base); /* NULL, and nothing kept */
    }
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expo_escape_quotes_backslashes_and_newlines),
        cmocka_unit_test(test_expo_escape_cuts_between_escapes),
        cmocka_unit_test(test_expo_every_family_has_help_and_type),
        cmocka_unit_test(test_expo_site_labels_are_escaped),
        cmocka_unit_test(test_expo_site_series_are_bounded),
        cmocka_unit_test(test_expo_every_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}

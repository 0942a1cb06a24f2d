/* prometheus: the Prometheus text exposition: escaping of label values, HELP and
 * TYPE for every family, bounded site series, every allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prometheus.h"

#include "failing_alloc.h"

#include "agg_records.h"

/* ---- an aggregator with sites named as hostile as file names get ---- */
static lw_agg_t *hostile_agg(void)
{
    lw_agg_cfg_t c = {.procs = {.workers = 2}, .max_sites = 64, .local_sites = 128, .local_endpoints = 16,
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
    {.id = 1, .pid = 101, .requests = 10, .rss = 31457280, .tracked = 8010, .oom_eta = 95,
     .malloc_free = 262144},
    {.id = 2, .pid = 102, .requests = 12, .rss = 30000000, .tracked = 0, .oom_eta = 0},
};
static const lw_alert_count_t kinds[] = {{"LEAK", 3}, {"NATIVE", 0}, {"OOM", 1}};

static char *render(const lw_agg_t *agg, uint32_t top, size_t *len)
{
    lw_prometheus_input_t in = {workers, 2, agg, top, kinds, 3, 4242, 0};
    return lw_prometheus_render(&in, &alloc, len);
}

static void test_prometheus_escape_quotes_backslashes_and_newlines(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(lw_prometheus_escape("a\"b\\c\nd", out, sizeof(out)), 10);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    assert_int_equal(lw_prometheus_escape("plain.py", out, sizeof(out)), 8);
    assert_string_equal(out, "plain.py");
}

static void test_prometheus_escape_cuts_between_escapes(void **state)
{
    char out[5];

    (void)state;
    /* "ab" fits, the escape of the quote would end at the NUL's place: cut before it */
    assert_int_equal(lw_prometheus_escape("ab\"cd", out, sizeof(out)), 4);
    assert_string_equal(out, "ab\\\"");
    assert_int_equal(lw_prometheus_escape("abc\"d", out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
}

/* Whether s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), as Prometheus requires of a label. */
static int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
                 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        uint32_t cp = n == 1 ? *p : n == 2 ? *p & 0x1Fu : n == 3 ? *p & 0x0Fu : *p & 0x07u;
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (n == 0 || (size_t)(end - p) < n)
            return 0;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3Fu);
        }
        if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n;
    }
    return 1;
}

static void test_prometheus_escape_cuts_between_characters(void **state)
{
    /* 2-, 3- and 4-byte characters, each cut at every byte of the last one that fits */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char value[64], out[32];

    (void)state;
    for (size_t c = 0; c < sizeof(chars) / sizeof(chars[0]); c++) {
        size_t width = strlen(chars[c]);
        value[0] = '\0';
        while (strlen(value) + width < sizeof(value))
            strcat(value, chars[c]);
        for (size_t outlen = 1; outlen <= sizeof(out); outlen++) {
            size_t n = lw_prometheus_escape(value, out, outlen);
            assert_int_equal(n, strlen(out));
            assert_true(utf8_valid(out, n));
            /* whole characters, as many as fit before the NUL */
            assert_int_equal(n, (outlen - 1) / width * width);
        }
    }
    /* an escape right before a cut character stays whole */
    assert_int_equal(lw_prometheus_escape("\"\xc3\xa9", out, 4), 2);
    assert_string_equal(out, "\\\"");
}

/* A site named by a file and a function longer than a label holds, in non-ASCII. */
static lw_agg_t *long_names_agg(const char *file, const char *func)
{
    lw_agg_cfg_t c = {.procs = {.workers = 1}, .max_sites = 8, .local_sites = 8, .local_endpoints = 4,
                      .max_endpoints = 4, .detect = {100000, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    char text[2048];
    size_t a = strlen(file) + 1, b = strlen(func) + 1;

    assert_non_null(agg);
    assert_true(a + b + 2 <= sizeof(text));
    memcpy(text, file, a);
    memcpy(text + a, func, b);
    text[a + b] = text[a + b + 1] = '\0';
    hello(101, 1);
    site(1, 7, 7, text, a + b + 2, 0);
    delta(1, 5000, 0);
    feed(agg, 1);
    return agg;
}

static void test_prometheus_long_non_ascii_labels_stay_utf8(void **state)
{
    char file[1024] = "/srv/", func[600] = "";
    size_t len;

    (void)state;
    /* a 3-byte character per step, an odd offset: a byte cut lands inside one */
    while (strlen(file) + 3 < sizeof(file) - 8)
        strcat(file, strlen(file) % 40 < 3 ? "/" : "\xe6\x97\xa5");
    strcat(file, ".py");
    while (strlen(func) + 2 < sizeof(func))
        strcat(func, "\xc3\xa9");
    lw_agg_t *agg = long_names_agg(file, func);
    char *text = render(agg, 10, &len);

    assert_non_null(text);
    assert_true(utf8_valid(text, len));
    const char *series = strstr(text, "leakwatch_site_live_bytes{file=\"/srv/");
    assert_non_null(series);
    assert_non_null(strstr(series, "\",line=\"7\",function=\"\xc3\xa9"));
    assert_true(strcspn(series, "\n") < strlen(file) + strlen(func)); /* both were cut */
    t_free(text);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_prometheus_every_family_has_help_and_type(void **state)
{
    static const char *const families[] = {
        "leakwatch_site_live_bytes gauge",   "leakwatch_site_growth_bytes gauge",
        "leakwatch_worker_tracked_bytes gauge", "leakwatch_worker_rss_bytes gauge",
        "leakwatch_worker_oom_eta_seconds gauge", "leakwatch_worker_malloc_free_bytes gauge",
        "leakwatch_alerts_total counter",
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
    assert_non_null(strstr(text, "leakwatch_worker_rss_bytes{kind=\"worker\",worker=\"1\"} 31457280\n"));
    assert_non_null(strstr(text, "leakwatch_worker_oom_eta_seconds{kind=\"worker\",worker=\"1\"} 95\n"));
    assert_non_null(
        strstr(text, "leakwatch_worker_malloc_free_bytes{kind=\"worker\",worker=\"1\"} 262144\n"));
    assert_non_null(strstr(text, "leakwatch_alerts_total{kind=\"LEAK\"} 3\n"));
    assert_non_null(strstr(text, "leakwatch_samples_total 4242\n"));
    assert_non_null(strstr(text, "leakwatch_lost_total 0\n"));
    assert_null(strstr(text, "leakwatch_site_live_bytes{")); /* no sites yet */
    t_free(text);
    assert_int_equal(live_allocs, 0);
}

static void test_prometheus_site_labels_are_escaped(void **state)
{
    lw_agg_t *agg = hostile_agg();
    size_t len;
    char *text = render(agg, 10, &len);

    (void)state;
    assert_non_null(text);
    assert_non_null(strstr(text, "leakwatch_site_live_bytes{file=\"/srv/we\\\"ird\\\\dir/a\\nb.py\","
                                 "line=\"7\",function=\"handler\",via_libraries=\"false\",kind=\"line\"} "
                                 "5000\n"));
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

static void test_prometheus_site_series_are_bounded(void **state)
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

static void test_prometheus_leaves_ignored_sites_out(void **state)
{
    lw_agg_cfg_t c = {.procs = {.workers = 1}, .max_sites = 16, .local_sites = 16, .local_endpoints = 4,
                      .max_endpoints = 4, .detect = {100000, 2, 1}, .ignore = ignored_files,
                      .nignore = 1};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    size_t len;

    (void)state;
    assert_non_null(agg);
    /* GIVEN a site in an ignored file, larger than a leaking one */
    grow_ignored_and_kept(agg, 100000);
    /* WHEN /metrics is rendered */
    char *text = render(agg, 10, &len);
    /* THEN it has series for the other one only */
    assert_non_null(text);
    assert_non_null(strstr(text, "leakwatch_site_live_bytes{file=\"" KEPT_FILE "\""));
    assert_non_null(strstr(text, "leakwatch_site_growth_bytes{file=\"" KEPT_FILE "\""));
    assert_null(strstr(text, IGNORED_FILE));
    t_free(text);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_prometheus_every_allocation_failure_is_clean(void **state)
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

/* A mule's and a spooler's rows say their kind, and never take a worker's label. */
static void test_prometheus_rows_of_mules_and_spoolers(void **state)
{
    lw_agg_cfg_t c = {.procs = {.workers = 1, .mules = 1, .spoolers = 2}, .max_sites = 8,
                      .local_sites = 8, .local_endpoints = 4, .max_endpoints = 4,
                      .detect = {100000, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    const lw_report_worker_t rows[] = {
        {.id = 1, .pid = 101, .tracked = 11}, {.id = 2, .pid = 202, .tracked = 22},
        {.id = 4, .pid = 404, .tracked = 44}};
    lw_prometheus_input_t in = {rows, 3, agg, 10, kinds, 3, 0, 0};
    size_t len;
    char *text;

    (void)state;
    assert_non_null(agg);
    text = lw_prometheus_render(&in, &alloc, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "leakwatch_worker_tracked_bytes{kind=\"worker\",worker=\"1\"} 11\n"));
    assert_non_null(strstr(text, "leakwatch_worker_tracked_bytes{kind=\"mule\",worker=\"mule1\"} 22\n"));
    assert_non_null(strstr(text, "leakwatch_worker_tracked_bytes{kind=\"spooler\",worker=\"spooler2\"} 44\n"));
    t_free(text);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_rows_of_mules_and_spoolers),
        cmocka_unit_test(test_prometheus_escape_quotes_backslashes_and_newlines),
        cmocka_unit_test(test_prometheus_escape_cuts_between_escapes),
        cmocka_unit_test(test_prometheus_escape_cuts_between_characters),
        cmocka_unit_test(test_prometheus_long_non_ascii_labels_stay_utf8),
        cmocka_unit_test(test_prometheus_every_family_has_help_and_type),
        cmocka_unit_test(test_prometheus_site_labels_are_escaped),
        cmocka_unit_test(test_prometheus_site_series_are_bounded),
        cmocka_unit_test(test_prometheus_every_allocation_failure_is_clean),
        cmocka_unit_test(test_prometheus_leaves_ignored_sites_out),
    };
    return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}

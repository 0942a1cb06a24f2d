/* report: schema, escaping of odd names, empty state, ordering. */
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#include "agg_records.h"

static void *t_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

static const lw_alloc_t alloc = {t_calloc, free};

static json_t *render(const lw_report_input_t *in)
{
    char *text = lw_report_render(in);
    json_error_t err;
    json_t *doc;

    assert_non_null(text);
    doc = json_loads(text, 0, &err);
    if (!doc)
        fail_msg("not JSON (%s): %s", err.text, text);
    lw_report_free(text);
    return doc;
}

static void push_site(lw_agg_t *agg, uint32_t id, const char *text, size_t len, int line,
                      int64_t bytes)
{
    site(id, line, line, text, len, 1);
    delta(id, bytes, 0);
    feed(agg, 1);
}

static void test_report_empty_state_has_every_key(void **state)
{
    lw_config_t cfg;
    lw_report_input_t in = {"2.0.21", &cfg, NULL, 0, NULL, NULL, 0};

    (void)state;
    lw_config_init(&cfg);
    json_t *doc = render(&in);
    assert_string_equal(json_string_value(json_object_get(doc, "version")), "2.0.21");
    assert_int_equal(json_integer_value(json_object_get(doc, "as_of_requests")), 0);
    json_t *settings = json_object_get(doc, "settings");
    assert_int_equal(json_integer_value(json_object_get(settings, "threshold")), 2 << 20);
    assert_int_equal(json_integer_value(json_object_get(settings, "sample_interval")), 8 << 10);
    assert_string_equal(json_string_value(json_object_get(settings, "gc")), "auto");
    assert_int_equal(json_integer_value(json_object_get(settings, "hold_budget_ms")), 50);
    assert_true(json_is_array(json_object_get(doc, "workers")));
    assert_int_equal(json_array_size(json_object_get(doc, "sites")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 0);
    json_decref(doc);
}

static void test_report_sites_workers_alerts(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 2}, .max_sites = 16, .local_sites = 16,
                         .local_endpoints = 4, .max_endpoints = 4, .detect = {1 << 20, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);
    /* odd but real file names: quotes, backslash, newline, and bytes that are not UTF-8 */
    static const char odd[] = "/srv/a \"quoted\" \\ dir\n/x.py\0f\0\0\0/srv/t.py\0" "3\0g\0";
    static const char bad[] = "/srv/\xff\xfe.py\0h\0\0\0";
    static const char big[] = "/srv/big.py\0k\0\0\0/srv/big.py\0" "7\0k\0";
    lw_report_worker_t workers[1] = {{1, 4242, 10, 0, 5000, 60, 0, 3072}};
    lw_report_alert_t alerts[1] = {{1700000000, "LEAK", "[leakwatch] LEAK \"x\""}};

    (void)state;
    lw_config_init(&cfg);
    assert_non_null(agg);
    hello(0, 0);
    feed(agg, 1);
    push_site(agg, 1, odd, sizeof(odd) - 1, 3, 100);
    push_site(agg, 2, bad, sizeof(bad) - 1, 4, 50);
    push_site(agg, 3, big, sizeof(big) - 1, 7, 9000);
    lw_agg_look(agg, 1234, 0);
    lw_agg_look(agg, 1240, 0);
    lw_report_input_t in = {"v", &cfg, workers, 1, agg, alerts, 1};
    json_t *doc = render(&in);
    /* the requests at the analyst's last look */
    assert_int_equal(json_integer_value(json_object_get(doc, "as_of_requests")), 1240);
    json_t *sites = json_object_get(doc, "sites");
    assert_int_equal(json_array_size(sites), 3);
    /* largest first */
    assert_string_equal(json_string_value(json_object_get(json_array_get(sites, 0), "file")),
                        "/srv/big.py");
    json_t *s1 = json_array_get(sites, 1);
    assert_string_equal(json_string_value(json_object_get(s1, "file")),
                        "/srv/a \"quoted\" \\ dir\n/x.py");
    assert_int_equal(json_integer_value(json_object_get(s1, "live_bytes")), 100);
    /* no detector yet: its growth, over requests and seconds, is 0 */
    assert_true(json_is_integer(json_object_get(s1, "growth_requests")));
    assert_true(json_is_real(json_object_get(s1, "growth_seconds")));
    assert_int_equal(json_integer_value(json_object_get(s1, "growth_requests")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s1, "per_worker_bytes"),
                                                        "1")), 100);
    /* what holds a site, once a worker said it; null before */
    assert_true(json_is_null(json_object_get(s1, "held_by")));
    assert_true(json_is_null(json_object_get(json_array_get(sites, 0), "held_by")));
    json_decref(doc);
    uint32_t largest;
    assert_int_equal(lw_agg_top_sites(agg, 0, false, &largest, 1), 1);
    assert_int_equal(lw_agg_set_held(agg, largest, "held by: Big.rows (list, 9 items) <- class Big",
                                     46), 0);
    doc = render(&in);
    sites = json_object_get(doc, "sites");
    s1 = json_array_get(sites, 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sites, 0), "held_by")),
                        "held by: Big.rows (list, 9 items) <- class Big");
    json_t *tb = json_object_get(s1, "traceback");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tb, 0), "line")), 3);
    /* not UTF-8: shown as "?" rather than failing the document */
    assert_string_equal(json_string_value(json_object_get(json_array_get(sites, 2), "file")), "?");
    json_t *w = json_array_get(json_object_get(doc, "workers"), 0);
    assert_int_equal(json_integer_value(json_object_get(w, "pid")), 4242);
    assert_int_equal(json_integer_value(json_object_get(w, "growth_rate")), 60);
    assert_int_equal(json_integer_value(json_object_get(w, "malloc_free_bytes")), 3072);
    json_t *a = json_array_get(json_object_get(doc, "alerts"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "text")), "[leakwatch] LEAK \"x\"");
    assert_int_equal(json_integer_value(json_object_get(a, "time")), 1700000000);
    json_decref(doc);
    lw_agg_free(agg);
}

static void test_report_per_worker_bytes_follow_worker_ids(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 2}, .max_sites = 16, .local_sites = 16,
                         .local_endpoints = 4, .max_endpoints = 4, .detect = {1 << 20, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);
    /* GIVEN only worker 2 is running (slot 1 never started) and holds a site */
    lw_report_worker_t workers[1] = {{2, 4343, 10, 0, 7000, 0, 0, 0}};

    (void)state;
    lw_config_init(&cfg);
    assert_non_null(agg);
    hello(4343, 1);
    named_site(1, 5, "/srv/two.py", "f");
    delta(1, 7000, 0);
    feed(agg, 2);
    lw_report_input_t in = {"v", &cfg, workers, 1, agg, NULL, 0};
    /* WHEN the report is rendered */
    json_t *doc = render(&in);
    /* THEN the site's share is under worker 2 */
    json_t *pw = json_object_get(json_array_get(json_object_get(doc, "sites"), 0),
                                 "per_worker_bytes");
    assert_int_equal(json_integer_value(json_object_get(pw, "2")), 7000);
    assert_int_equal(json_object_size(pw), 1);
    json_decref(doc);
    lw_agg_free(agg);
}

/* Mules and spoolers have rows of their own, named by kind and number. */
static void test_report_rows_of_mules_and_spoolers(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 2, .mules = 1, .spoolers = 1}, .max_sites = 16,
                         .local_sites = 16, .local_endpoints = 4, .max_endpoints = 4,
                         .detect = {1 << 20, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);
    /* GIVEN worker 1, mule 1 (slot 3) and spooler 1 (slot 4) running; the mule holds a site */
    lw_report_worker_t rows[3] = {{1, 101, 10, 0, 0, 0, 0, 0}, {3, 303, 0, 0, 9000, 0, 0, 0},
                                  {4, 404, 0, 0, 0, 0, 0, 0}};
    static const char *const said[][2] = {{"worker", "1"}, {"mule", "1"}, {"spooler", "1"}};

    (void)state;
    lw_config_init(&cfg);
    assert_non_null(agg);
    hello(303, 1);
    named_site(1, 5, "/srv/jobs.py", "poll");
    delta(1, 9000, 0);
    feed(agg, 3);
    lw_report_input_t in = {"v", &cfg, rows, 3, agg, NULL, 0};
    json_t *doc = render(&in);
    json_t *workers = json_object_get(doc, "workers");
    for (size_t i = 0; i < 3; i++) {
        json_t *w = json_array_get(workers, i);
        assert_string_equal(json_string_value(json_object_get(w, "kind")), said[i][0]);
        assert_int_equal(json_integer_value(json_object_get(w, "number")), atoi(said[i][1]));
        assert_int_equal(json_integer_value(json_object_get(w, "id")), rows[i].id);
    }
    /* the site's bytes are under the mule's row id */
    json_t *pw = json_object_get(json_array_get(json_object_get(doc, "sites"), 0),
                                 "per_worker_bytes");
    assert_int_equal(json_integer_value(json_object_get(pw, "3")), 9000);
    assert_int_equal(json_object_size(pw), 1);
    json_decref(doc);
    lw_agg_free(agg);
}

static void test_report_caps_the_number_of_sites(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 1}, .max_sites = 800, .local_sites = 300, /* 250 lines and their sums */
                         .local_endpoints = 4, .max_endpoints = 4, .detect = {1 << 20, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);
    char text[64];

    (void)state;
    lw_config_init(&cfg);
    for (uint32_t i = 0; i < 250; i++) {
        int n = snprintf(text, sizeof(text), "/f%u.py%cf%c%c", i, 0, 0, 0);
        push_site(agg, i, text, (size_t)n + 1, 1, 1000 + i);
    }
    lw_report_input_t in = {"v", &cfg, NULL, 0, agg, NULL, 0};
    json_t *doc = render(&in);
    json_t *sites = json_object_get(doc, "sites");
    assert_int_equal(json_array_size(sites), LW_REPORT_SITES_MAX);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(sites, 0), "live_bytes")),
                     1249);
    json_decref(doc);
    lw_agg_free(agg);
}

/* An announced sum is reported as such, with the lines that grew. */
static void test_report_an_announced_sum_lists_its_lines(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 1}, .max_sites = 16, .local_sites = 16,
                         .local_endpoints = 4, .max_endpoints = 4, .detect = {100000, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);
    lw_alert_t alert;
    bool announced = false;

    (void)state;
    lw_config_init(&cfg);
    hello(1, 1);
    named_site(1, 12, "/srv/sum.py", "handler");
    named_site(2, 13, "/srv/sum.py", "handler");
    feed(agg, 1);
    for (uint64_t req = 1; req <= 1000 && !announced; req++) {
        delta(1, 600, 0);
        delta(2, 500, 0);
        feed(agg, 1);
        announced = lw_agg_judge(agg, req, &alert, 1) == 1;
    }
    assert_true(announced);
    lw_report_input_t in = {"v", &cfg, NULL, 0, agg, NULL, 0};
    json_t *doc = render(&in);
    json_t *sites = json_object_get(doc, "sites"), *sum = NULL;
    for (size_t i = 0; i < json_array_size(sites); i++) {
        json_t *o = json_array_get(sites, i);
        if (!strcmp(json_string_value(json_object_get(o, "kind")), "function"))
            sum = o;
        else
            assert_string_equal(json_string_value(json_object_get(o, "kind")), "line");
    }
    assert_non_null(sum); /* announced: listed beside its lines */
    assert_string_equal(json_string_value(json_object_get(sum, "function")), "handler");
    assert_int_equal(json_integer_value(json_object_get(sum, "lines_grown")), 2);
    json_t *lines = json_object_get(sum, "lines");
    assert_int_equal(json_array_size(lines), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, 0), "line")), 12);
    assert_true(json_integer_value(json_object_get(json_array_get(lines, 0), "grown_bytes")) >
                json_integer_value(json_object_get(json_array_get(lines, 1), "grown_bytes")));
    json_decref(doc);
    lw_agg_free(agg);
}

static void test_report_leaves_ignored_sites_out(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 1}, .max_sites = 16, .local_sites = 16,
                         .local_endpoints = 4, .max_endpoints = 4, .detect = {1 << 20, 2, 1},
                         .ignore = ignored_files, .nignore = 1};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);

    (void)state;
    lw_config_init(&cfg);
    assert_non_null(agg);
    /* GIVEN a site in an ignored file, larger than a leaking one */
    grow_ignored_and_kept(agg, 1 << 20);
    lw_report_input_t in = {"v", &cfg, NULL, 0, agg, NULL, 0};
    /* WHEN the report is rendered */
    json_t *doc = render(&in);
    /* THEN it lists only the other one */
    json_t *sites = json_object_get(doc, "sites");
    assert_int_equal(json_array_size(sites), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sites, 0), "file")),
                        KEPT_FILE);
    json_decref(doc);
    lw_agg_free(agg);
}

/* jansson's allocator, failing on demand. Only this test binary does this:
 * the plugin never touches jansson's allocator (uWSGI shares the library). */
static int j_left = -1, j_live;

static void *j_malloc(size_t size)
{
    if (j_left == 0)
        return NULL;
    if (j_left > 0)
        j_left--;
    j_live++;
    return malloc(size);
}

static void j_free(void *p)
{
    if (p)
        j_live--;
    free(p);
}

static void test_report_every_allocation_failure_is_clean(void **state)
{
    lw_config_t cfg;
    lw_agg_cfg_t acfg = {.procs = {.workers = 1}, .max_sites = 8, .local_sites = 8, .local_endpoints = 4,
                         .max_endpoints = 4, .detect = {1 << 20, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&acfg, &alloc);
    static const char big[] = "/srv/big.py\0k\0\0\0/srv/big.py\0" "7\0k\0";
    lw_report_worker_t workers[1] = {{1, 4242, 10, 0, 5000, 60, 0, 0}};
    lw_report_alert_t alerts[1] = {{1700000000, "LEAK", "[leakwatch] LEAK x"}};
    int failures = 0;

    (void)state;
    lw_config_init(&cfg);
    push_site(agg, 1, big, sizeof(big) - 1, 7, 9000);
    lw_report_input_t in = {"v", &cfg, workers, 1, agg, alerts, 1};
    json_set_alloc_funcs(j_malloc, j_free);
    for (int k = 0;; k++) {
        j_left = k;
        j_live = 0;
        char *text = lw_report_render(&in);
        j_left = -1;
        if (text) {
            lw_report_free(text); /* with jansson's own deallocator: j_free here */
            assert_int_equal(j_live, 0);
            break;
        }
        failures++;
        assert_int_equal(j_live, 0); /* a failed render leaks nothing */
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(failures > 10);
    lw_agg_free(agg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_empty_state_has_every_key),
        cmocka_unit_test(test_report_sites_workers_alerts),
        cmocka_unit_test(test_report_per_worker_bytes_follow_worker_ids),
        cmocka_unit_test(test_report_rows_of_mules_and_spoolers),
        cmocka_unit_test(test_report_caps_the_number_of_sites),
        cmocka_unit_test(test_report_an_announced_sum_lists_its_lines),
        cmocka_unit_test(test_report_leaves_ignored_sites_out),
        cmocka_unit_test(test_report_every_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}

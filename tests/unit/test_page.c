/* page: the HTML page: empty state, a leak with its chart, hostile names
 * escaped, many sites bounded, suspects first, balanced markup, every
 * allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"

#include "failing_alloc.h"

#include "agg_records.h"

#define T 100000

static lw_config_t cfg;

static size_t count(const char *text, const char *what)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Every element the page opens is closed: a cut or a stray tag breaks this. */
static void assert_balanced(const char *html)
{
    static const char *const tags[][2] = {
        {"<div", "</div>"},     {"<svg", "</svg>"},   {"<table", "</table>"}, {"<tr>", "</tr>"},
        {"<details", "</details>"}, {"<code>", "</code>"}, {"<ol", "</ol>"},   {"<li>", "</li>"},
        {"<h3>", "</h3>"},      {"<span", "</span>"},
    };

    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
        assert_int_equal(count(html, tags[i][0]), count(html, tags[i][1]));
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    assert_non_null(strstr(html, "</body></html>\n"));
}

static char *render(const lw_page_input_t *in, size_t *len)
{
    char *html = lw_page_render(in, &alloc, len);

    assert_non_null(html);
    assert_int_equal(strlen(html), *len);
    assert_balanced(html);
    return html;
}

/* Releases what a test made and checks nothing else is left. */
static void release(char *html, lw_sitehist_t *hist, lw_agg_t *agg)
{
    t_free(html);
    lw_sitehist_free(hist);
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static lw_page_input_t empty_input(void)
{
    lw_page_input_t in = {.version = "2.0.21", .cfg = &cfg, .max_sites = 12, .refresh = 5};
    return in;
}

static void test_page_empty_state_says_so(void **state)
{
    lw_page_input_t in = empty_input();
    size_t len;
    char *html;

    (void)state;
    html = render(&in, &len);
    assert_non_null(strstr(html, "id=\"no-workers\""));
    assert_non_null(strstr(html, "id=\"no-sites\""));
    assert_non_null(strstr(html, "id=\"no-alerts\""));
    assert_non_null(strstr(html, "No memory limit known"));
    assert_non_null(strstr(html, "<meta http-equiv=\"refresh\" content=\"5\">"));
    assert_null(strstr(html, "<svg"));
    assert_null(strstr(html, "http://"));  /* self-contained: no external asset */
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<script"));
    t_free(html);
    assert_int_equal(live_allocs, 0);
}

/* A site that leaks 2000 B per request until alerted, a big steady one, and
 * the history of both, one frame per request. */
#define LEAKY "/srv/<app>&co.py\0handler\0/srv/<app>&co.py\0handler\0/srv/<app>&co.py\0" \
              "12\0handler\0"
#define LEAK_ID find(agg, "/srv/<app>&co.py", 12, false)
#define STEADY_ID find(agg, "/srv/steady.py", 40, false)
static lw_agg_t *leaking(lw_sitehist_t **hist)
{
    lw_agg_cfg_t c = {.procs = {.workers = 2}, .max_sites = 64, .local_sites = 128, .local_endpoints = 16,
                      .max_endpoints = 16, .detect = {T, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    lw_alert_t alerts[4];
    size_t alerted = 0;

    assert_non_null(agg);
    *hist = lw_sitehist_new(&alloc, 1);
    assert_non_null(*hist);
    hello(101, 1);
    site(5, 12, 12, LEAKY, sizeof(LEAKY) - 1, 1);
    named_site(6, 40, "/srv/steady.py", "load");
    named_site(7, -1, "<no Python frame>", "?");
    endpoint(1, "/orders/<script>");
    delta(6, 5 * T, 0);
    delta(7, T, 0);
    feed(agg, 1);
    for (uint64_t req = 1; req <= 400 && !alerted; req++) {
        delta(5, 2000, 1);
        feed(agg, 1);
        alerted = lw_agg_judge(agg, req, alerts, 4);
        assert_true(lw_sitehist_begin(*hist, (int64_t)req));
        assert_int_equal(lw_sitehist_put(*hist, LEAK_ID, lw_agg_site(agg, LEAK_ID)->live), 0);
        assert_int_equal(lw_sitehist_put(*hist, STEADY_ID, lw_agg_site(agg, STEADY_ID)->live), 0);
    }
    assert_int_equal(alerted, 1);
    return agg;
}

static void test_page_shows_the_leak_with_its_chart(void **state)
{
    static const lw_report_worker_t workers[] = {
        {.id = 1, .pid = 101, .requests = 150, .rss = 400 << 20, .tracked = 300000,
         .growth_rate = 120000, .oom_eta = 754, .malloc_free = 3 << 20},
    };
    static const lw_report_alert_t alerts[] = {
        {1764040000, "LEAK", "[leakwatch] LEAK /srv/<app>&co.py:12 in handler(): +200 KiB"},
    };
    lw_sitehist_t *hist;
    lw_agg_t *agg = leaking(&hist);
    lw_page_input_t in = empty_input();
    size_t len;
    char *html, *leak, *steady;

    (void)state;
    in.workers = workers;
    in.nworkers = 1;
    in.mem_limit = 512 << 20;
    in.agg = agg;
    in.hist = hist;
    in.hist_now = 400;
    in.alerts = alerts;
    in.nalerts = 1;
    assert_int_equal(lw_agg_set_held(agg, LEAK_ID, "held by: <Cache>.rows (list, 9 items)", 37), 0);
    html = render(&in, &len);
    /* what holds the leak is said under its name, escaped */
    assert_non_null(strstr(html, "<div><code>held by: &lt;Cache&gt;.rows (list, 9 items)</code></div>"));
    /* THEN the leaking site comes first though the steady one is larger */
    leak = strstr(html, "<code>/srv/&lt;app&gt;&amp;co.py:12</code>");
    steady = strstr(html, "<code>/srv/steady.py:40</code>");
    assert_non_null(leak);
    assert_non_null(steady);
    assert_true(leak < steady);
    assert_non_null(strstr(html, "<span class=\"badge leak\">LEAK</span><code>/srv/&lt;app"));
    assert_int_equal(count(html, "<svg class=\"chart\""), 2);
    assert_int_equal(count(html, "<polyline"), 2);
    assert_non_null(strstr(html, "no history yet")); /* the pseudo-site was not recorded */
    /* the endpoint, the alert text and file names come escaped, never raw */
    assert_non_null(strstr(html, "<code>/orders/&lt;script&gt;</code>"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<app>"));
    assert_non_null(strstr(html, "2025-11-25 03:06:40"));
    /* the worker row: RSS, its share of the limit, malloc's free bytes, the ETA */
    assert_non_null(strstr(html, "<td>400.0 MiB</td>"));
    assert_non_null(strstr(html, ">malloc free</th>"));
    assert_non_null(strstr(html, "<td>3.0 MiB</td><td>117.2 KiB/min</td>"));
    assert_non_null(strstr(html, "title=\"78% of the limit\""));
    assert_non_null(strstr(html, "<td>12 min</td>"));
    assert_non_null(strstr(html, "memory limit 512.0 MiB per worker"));
    assert_non_null(strstr(html, "<tr><td>worker 1</td><td>101</td>"));
    /* a pseudo-site is named, not given a line */
    assert_non_null(strstr(html, "<code>&lt;no Python frame&gt;</code></h3>"));
    assert_null(strstr(html, ":-1"));
    /* the growing site's traceback is open, the steady ones' closed */
    assert_int_equal(count(html, "<details open>"), 1);
    release(html, hist, agg);
}

static void test_page_growth_between_requests_is_said_over_time(void **state)
{
    lw_agg_cfg_t c = {.procs = {.workers = 2}, .max_sites = 64, .local_sites = 128, .local_endpoints = 16,
                      .max_endpoints = 16, .detect = {T, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    lw_sitehist_t *hist = lw_sitehist_new(&alloc, 1);
    lw_page_input_t in = empty_input();
    size_t len;
    char *html;

    (void)state;
    assert_non_null(agg);
    /* a thread's 2,000 bytes every 100 ms, a request a second */
    assert_int_not_equal(thread_leak(agg, true, 4000), 0);
    in.agg = agg;
    html = render(&in, &len);
    assert_non_null(strstr(html, " s and "));
    assert_non_null(strstr(html, " B/s)"));
    assert_null(strstr(html, "B/request)"));
    release(html, hist, agg);
}

static void test_page_chart_points_follow_the_history(void **state)
{
    lw_sitehist_t *hist;
    lw_agg_t *agg = leaking(&hist);
    lw_sitehist_point_t p[LW_SITEHIST_FRAMES];
    size_t n = lw_sitehist_series(hist, LEAK_ID, p, LW_SITEHIST_FRAMES), len;
    lw_page_input_t in = empty_input();
    char *html, *points, *end;
    size_t pairs = 0;

    (void)state;
    in.agg = agg;
    in.hist = hist;
    in.hist_now = p[n - 1].time;
    in.max_sites = 1;
    html = render(&in, &len);
    points = strstr(html, "points=\"");
    assert_non_null(points);
    points += 8;
    end = strchr(points, '"');
    for (char *q = points; q < end; q++)
        pairs += *q == ',';
    assert_int_equal(pairs, n + 2); /* the history, closed down to the baseline */
    /* the newest point is at the right edge, the highest at the top */
    assert_non_null(strstr(html, " 360.0,4.0 360.0,90\"/>"));
    release(html, hist, agg);
}

static void test_page_many_sites_are_bounded(void **state)
{
    lw_agg_cfg_t c = {.procs = {.workers = 1}, .max_sites = 2048, .local_sites = 1024, /* 600 lines, sums */
                      .local_endpoints = 16, .max_endpoints = 16, .detect = {T, 2, 1}};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    lw_page_input_t in = empty_input();
    size_t len, small_len;
    char *html, file[64];

    (void)state;
    assert_non_null(agg);
    hello(101, 1);
    feed(agg, 1);
    for (uint32_t id = 1; id <= 600; id++) {
        snprintf(file, sizeof(file), "/srv/mod%u.py", id);
        named_site(id, (int)id, file, "f");
        delta(id, T + id, 0);
        feed(agg, 1);
    }
    lw_agg_judge(agg, 1, NULL, 0);
    in.agg = agg;
    in.max_sites = 3;
    html = render(&in, &small_len);
    assert_int_equal(count(html, "<div class=\"site\">"), 3);
    assert_non_null(strstr(html, "/srv/mod600.py:600")); /* the largest */
    t_free(html);
    in.max_sites = 500;                                  /* more than the page shows */
    html = render(&in, &len);
    assert_int_equal(count(html, "<div class=\"site\">"), 64);
    assert_true(len < 64 * 2048);
    release(html, NULL, agg);
}

static void test_page_pick_sites_puts_suspects_first_once(void **state)
{
    lw_sitehist_t *hist;
    lw_agg_t *agg = leaking(&hist);
    uint32_t ids[8];

    (void)state;
    assert_int_equal(lw_page_pick_sites(agg, ids, 8), 3);
    assert_int_equal(ids[0], LEAK_ID);
    assert_int_equal(ids[1], STEADY_ID);
    assert_int_equal(lw_page_pick_sites(agg, ids, 1), 1);
    assert_int_equal(ids[0], LEAK_ID);
    assert_int_equal(lw_page_pick_sites(NULL, ids, 8), 0);
    release(NULL, hist, agg);
}

static void test_page_leaves_ignored_sites_out(void **state)
{
    lw_agg_cfg_t c = {.procs = {.workers = 1}, .max_sites = 16, .local_sites = 16, .local_endpoints = 4,
                      .max_endpoints = 4, .detect = {T, 2, 1}, .ignore = ignored_files,
                      .nignore = 1};
    lw_agg_t *agg = lw_agg_new(&c, &alloc);
    lw_page_input_t in = empty_input();
    uint32_t ids[8];
    size_t len;

    (void)state;
    assert_non_null(agg);
    /* GIVEN a site in an ignored file, larger than a leaking one */
    grow_ignored_and_kept(agg, T);
    /* WHEN the page picks the sites it shows (and the master charts) */
    size_t n = lw_page_pick_sites(agg, ids, 8);
    in.agg = agg;
    char *html = render(&in, &len);
    /* THEN the other one only has a card */
    assert_int_equal(n, 1);
    assert_string_equal(lw_agg_field(lw_agg_site(agg, ids[0]), 0), KEPT_FILE);
    assert_int_equal(count(html, "<div class=\"site\">"), 1);
    assert_non_null(strstr(html, "<code>" KEPT_FILE ":9</code>"));
    assert_null(strstr(html, IGNORED_FILE));
    release(html, NULL, agg);
}

static void test_page_every_allocation_failure_is_clean(void **state)
{
    lw_sitehist_t *hist;
    lw_agg_t *agg = leaking(&hist);
    lw_page_input_t in = empty_input();
    int base = live_allocs;
    size_t len;

    (void)state;
    in.agg = agg;
    in.hist = hist;
    in.hist_now = 400;
    for (int fail_at = 0; fail_at < 64; fail_at++) {
        allocs_left = fail_at;
        char *html = lw_page_render(&in, &alloc, &len);
        allocs_left = -1;
        assert_int_equal(live_allocs, base + (html != NULL)); /* NULL, and nothing kept */
        if (html) {
            t_free(html);
            break;
        }
    }
    release(NULL, hist, agg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_empty_state_says_so),
        cmocka_unit_test(test_page_shows_the_leak_with_its_chart),
        cmocka_unit_test(test_page_growth_between_requests_is_said_over_time),
        cmocka_unit_test(test_page_chart_points_follow_the_history),
        cmocka_unit_test(test_page_many_sites_are_bounded),
        cmocka_unit_test(test_page_pick_sites_puts_suspects_first_once),
        cmocka_unit_test(test_page_every_allocation_failure_is_clean),
        cmocka_unit_test(test_page_leaves_ignored_sites_out),
    };
    lw_config_init(&cfg);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

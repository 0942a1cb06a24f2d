/* alerttext: the exact lines of each alert (LEAK in its forms, OOM per
 * worker and for all workers, NATIVE, LAST WORDS), pinned byte for byte
 * over an aggregator fed as the workers would; allocation failures.
 * LW_SHOW_TEXT=1 prints each text rendered (to update a pin on purpose). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerttext.h"

#include "failing_alloc.h"

#include "agg_records.h"

#define KIB INT64_C(1024)
#define MIB (KIB * KIB)

/* fields: file, func, app file, app func, then frames (file, line, func) */
#define APP "/srv/app.py\0handler\0/srv/app.py\0handler\0/srv/app.py\0" "12\0handler\0"
#define CACHE "/srv/cache.py\0fill\0/srv/cache.py\0fill\0"
#define LIB "/usr/lib/python3.11/logging/__init__.py\0getLogger\0/srv/views.py\0index\0" \
            "/usr/lib/python3.11/logging/__init__.py\0" "1353\0getLogger\0" \
            "/srv/views.py\0" "31\0index\0"

static const lw_agg_cfg_t cfg = {.procs = {.workers = 3}, .max_sites = 64, .local_sites = 128,
                                 .local_endpoints = 16, .max_endpoints = 16,
                                 .detect = {100000, 2, 1}};

/* The fleet every test reads: worker 1 (pid 101) leaks 2,000 bytes a
 * request at app.py:12 from two endpoints and holds a flat 300,000-byte
 * cache; worker 3 (pid 303) holds 1,000 bytes of app.py:12; worker 2 (pid
 * 202) a little of a library site reached from views.py:31. Judged until
 * app.py:12's LEAK alert. */
static uint32_t app_id, cache_id, lib_id, rollup_id;

static lw_agg_t *fleet(void)
{
    lw_alert_t alerts[4];
    size_t total = 0;
    lw_agg_t *agg;

    allocs_left = -1;
    live_allocs = 0;
    nrecs = 0;
    agg = lw_agg_new(&cfg, &alloc);
    assert_non_null(agg);
    hello(303, 1);
    site(1, 12, 12, APP, sizeof(APP) - 1, 1);
    delta(1, 1000, 0);
    feed(agg, 3);
    hello(202, 1);
    site(2, 1353, 31, LIB, sizeof(LIB) - 1, 2);
    delta(2, 4096, 0);
    feed(agg, 2);
    hello(101, 1);
    site(5, 12, 12, APP, sizeof(APP) - 1, 1);
    site(6, 40, 40, CACHE, sizeof(CACHE) - 1, 0);
    endpoint(1, "/orders/{id}");
    endpoint(2, "/cart");
    delta(6, 300000, 0);
    feed(agg, 1);
    for (uint64_t req = 1; req <= 400 && total == 0; req++) {
        delta(5, 2000, req % 3 ? 1 : 2);
        feed(agg, 1);
        total += lw_agg_judge(agg, req, alerts, 4);
    }
    assert_int_equal(total, 1);
    app_id = find(agg, "/srv/app.py", 12, false);
    assert_int_equal(alerts[0].site, app_id);
    cache_id = find(agg, "/srv/cache.py", 40, false);
    lib_id = find(agg, "/usr/lib/python3.11/logging/__init__.py", 1353, false);
    rollup_id = find(agg, "/srv/views.py", 31, true);
    return agg;
}

static lw_strbuf_t empty_text(void)
{
    lw_strbuf_t t;

    lw_strbuf_init(&t, &alloc, 0);
    return t;
}

/* Ends the text and checks it is `expected`, byte for byte. */
static void assert_text(lw_strbuf_t *t, const char *expected)
{
    size_t len;
    char *got = lw_strbuf_finish(t, &len);

    assert_non_null(got);
    if (getenv("LW_SHOW_TEXT"))
        print_message("%s|END\n", got);
    assert_string_equal(got, expected);
    assert_int_equal(len, strlen(expected));
    alloc.free(got);
}

static void test_alerttext_leak_line_with_endpoints_and_traceback(void **state)
{
    lw_agg_t *agg = fleet();
    lw_strbuf_t t = empty_text();

    (void)state;
    lw_alerttext_leak(&t, agg, app_id);
    assert_text(&t, "[leakwatch] LEAK /srv/app.py:12 in handler(): +123.0 KiB over 63 requests "
                    "(2.0 KiB/req) on workers 1,3\n"
                    "[leakwatch]   endpoints: /orders/{id} (+85.9 KiB), /cart (+41.0 KiB), "
                    "other (+1000 B)\n"
                    "[leakwatch]   traceback, most recent call first:\n"
                    "[leakwatch]     /srv/app.py:12 in handler()\n");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

/* What holds it, once worker 1 answered: a HELD line of its own, and a
 * line among the LEAK's details when it is said again. */
static void test_alerttext_held_and_a_leak_said_again(void **state)
{
    lw_agg_t *agg = fleet();
    lw_strbuf_t t = empty_text();
    static const char held[] = "held by: Cache.rows (list, 63 items) <- class Cache (16 of 16 "
                               "samples, 2.1 ms)";

    (void)state;
    lw_alerttext_held(&t, agg, app_id, 1, 101); /* nothing known yet: nothing said */
    assert_text(&t, "");
    t = empty_text();
    assert_int_equal(lw_agg_set_held(agg, app_id, held, sizeof(held) - 1), 0);
    lw_alerttext_held(&t, agg, app_id, 1, 101);
    assert_text(&t, "[leakwatch] HELD /srv/app.py:12 in handler() on worker 1 pid 101: held by: "
                    "Cache.rows (list, 63 items) <- class Cache (16 of 16 samples, 2.1 ms)\n");
    t = empty_text();
    assert_int_equal(lw_agg_set_held(agg, cache_id, "held by: unknown (why)", 22), 0);
    lw_alerttext_held(&t, agg, cache_id, 0, 0); /* no process asked */
    assert_text(&t, "[leakwatch] HELD /srv/cache.py:40 in fill(): held by: unknown (why)\n");
    t = empty_text();
    lw_alerttext_leak(&t, agg, app_id);
    assert_text(&t, "[leakwatch] LEAK /srv/app.py:12 in handler(): +123.0 KiB over 63 requests "
                    "(2.0 KiB/req) on workers 1,3\n"
                    "[leakwatch]   endpoints: /orders/{id} (+85.9 KiB), /cart (+41.0 KiB), "
                    "other (+1000 B)\n"
                    "[leakwatch]   held by: Cache.rows (list, 63 items) <- class Cache (16 of 16 "
                    "samples, 2.1 ms)\n"
                    "[leakwatch]   traceback, most recent call first:\n"
                    "[leakwatch]     /srv/app.py:12 in handler()\n");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

/* The other forms of a LEAK alert, by the site it names. */
static void test_alerttext_leak_forms(void **state)
{
    lw_agg_t *agg = fleet();
    const struct {
        const uint32_t *id;
        const char *text;
    } forms[] = {
        /* a rollup: named at the application line, traceback of the library site */
        {&rollup_id,
         "[leakwatch] LEAK /srv/views.py:31 in index(): +0 B over 0 requests (0 B/req) on "
         "worker 2\n"
         "[leakwatch]   growing inside libraries called from this line\n"
         "[leakwatch]   endpoints: other (+4.0 KiB)\n"
         "[leakwatch]   traceback, most recent call first:\n"
         "[leakwatch]     /usr/lib/python3.11/logging/__init__.py:1353 in getLogger()\n"
         "[leakwatch]     /srv/views.py:31 in index()\n"},
        /* a library site: where the application reaches it */
        {&lib_id,
         "[leakwatch] LEAK /usr/lib/python3.11/logging/__init__.py:1353 in getLogger(): +0 B "
         "over 0 requests (0 B/req) on worker 2\n"
         "[leakwatch]   reached from the application at /srv/views.py:31 in index()\n"
         "[leakwatch]   endpoints: other (+4.0 KiB)\n"
         "[leakwatch]   traceback, most recent call first:\n"
         "[leakwatch]     /usr/lib/python3.11/logging/__init__.py:1353 in getLogger()\n"
         "[leakwatch]     /srv/views.py:31 in index()\n"},
        /* no traceback */
        {&cache_id,
         "[leakwatch] LEAK /srv/cache.py:40 in fill(): +0 B over 0 requests (0 B/req) on "
         "worker 1\n"
         "[leakwatch]   endpoints: other (+293.0 KiB)\n"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        lw_strbuf_t t = empty_text();
        lw_alerttext_leak(&t, agg, *forms[i].id);
        assert_text(&t, forms[i].text);
    }
    /* no such site: nothing */
    lw_strbuf_t t = empty_text();
    lw_alerttext_leak(&t, agg, 60);
    assert_text(&t, "");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

/* A pseudo-site has no line or function: its name alone, in the LEAK line
 * and the HELD line. */
static void test_alerttext_a_pseudo_site_by_its_name(void **state)
{
    lw_agg_t *agg = fleet();
    uint32_t id;

    (void)state;
    named_site(7, LW_LINE_SHELF, LW_NAME_SHELF, "?");
    delta(7, 5000, 0);
    feed(agg, 2);
    id = find(agg, "<CPython free lists>", -2, false);
    /* the other two a worker sends say what they are too */
    named_site(8, LW_LINE_NO_FRAME, LW_NAME_NO_FRAME, "?");
    named_site(9, LW_LINE_OVERFLOW, LW_NAME_OVERFLOW, "?");
    delta(8, 3000, 0);
    delta(9, 2000, 0);
    feed(agg, 2);
    const char *said[] = {"allocated from C with no Python code running",
                          "the sites a worker could not track"};
    for (int k = 0; k < 2; k++) {
        lw_strbuf_t t2 = empty_text();
        size_t len;
        lw_alerttext_leak(&t2, agg, find(agg, k ? LW_NAME_OVERFLOW : LW_NAME_NO_FRAME,
                                         k ? LW_LINE_OVERFLOW : LW_LINE_NO_FRAME, false));
        char *got = lw_strbuf_finish(&t2, &len);
        assert_non_null(strstr(got, k ? "LEAK <other sites: table full>: +0 B"
                                      : "LEAK <no Python frame>: +0 B"));
        assert_non_null(strstr(got, said[k]));
        alloc.free(got);
    }
    lw_strbuf_t t = empty_text();
    lw_alerttext_leak(&t, agg, id);
    assert_text(&t, "[leakwatch] LEAK <CPython free lists>: +0 B over 0 requests (0 B/req) on "
                    "worker 2\n"
                    "[leakwatch]   not one line: lists, tuples and dicts that CPython handed "
                    "out again from its free lists, which no allocator call follows, so the "
                    "lines that made them are unknown; the endpoints, and what holds them, say "
                    "where they are kept\n"
                    "[leakwatch]   endpoints: other (+4.9 KiB)\n");
    assert_int_equal(lw_agg_set_held(agg, id, "held by: Profiler.records (list, 9 items)", 41), 0);
    t = empty_text();
    lw_alerttext_held(&t, agg, id, 2, 202);
    assert_text(&t, "[leakwatch] HELD <CPython free lists> on worker 2 pid 202: held by: "
                    "Profiler.records (list, 9 items)\n");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

/* Site 0 of a table whose every site is held: what it is the sum of. */
/* A leak in a mule is said to be on the mule, and so are its last words. */
static void test_alerttext_names_mules_and_spoolers(void **state)
{
    static const lw_agg_cfg_t both = {.procs = {.workers = 2, .mules = 1, .spoolers = 1},
                                      .max_sites = 64, .local_sites = 128,
                                      .local_endpoints = 16, .max_endpoints = 16,
                                      .detect = {100000, 2, 1}};
    lw_agg_t *agg;
    lw_alert_t alerts[4];
    size_t total = 0;
    uint64_t req;

    (void)state;
    nrecs = 0;
    agg = lw_agg_new(&both, &alloc);
    assert_non_null(agg);
    /* GIVEN mule 1 (slot 3) and spooler 1 (slot 4) keep bytes at the same line */
    hello(404, 1);
    site(1, 12, 12, APP, sizeof(APP) - 1, 1);
    delta(1, 1000, 0);
    feed(agg, 4);
    hello(303, 1);
    site(1, 12, 12, APP, sizeof(APP) - 1, 1);
    feed(agg, 3);
    for (req = 1; req <= 400 && total == 0; req++) {
        delta(1, 2000, 0);
        feed(agg, 3);
        total += lw_agg_judge(agg, req, alerts, 4);
    }
    assert_int_equal(total, 1);
    lw_strbuf_t t = empty_text();
    lw_alerttext_leak(&t, agg, alerts[0].site);
    size_t len;
    char *text = lw_strbuf_finish(&t, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "/req) on mule 1, spooler 1\n"));
    alloc.free(text);
    lw_departure_t d = {3, 303, 1, {alerts[0].site, 0, 0}, {2048, 0, 0}};
    t = empty_text();
    assert_true(lw_alerttext_last_words(&t, agg, &d, LW_END_GONE, false));
    text = lw_strbuf_finish(&t, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "[leakwatch] LAST WORDS mule 1 pid 303, gone"));
    alloc.free(text);
    lw_agg_free(agg);
}

static void test_alerttext_leak_in_sites_that_could_not_be_tracked(void **state)
{
    lw_agg_cfg_t small = cfg;
    lw_agg_t *agg;
    lw_alert_t alerts[4];
    size_t total = 0;
    char text[64];

    (void)state;
    small.max_sites = 3;
    allocs_left = -1;
    agg = lw_agg_new(&small, &alloc);
    assert_non_null(agg);
    hello(1, 1);
    for (uint32_t i = 0; i < 5; i++) { /* /f0.py's line and its function's sum take the
                                          table (its file's sum finds no room); 4 overflow */
        int n = snprintf(text, sizeof(text), "/f%u.py%cf%c%c", i, 0, 0, 0);
        site(i, 1, 0, text, (size_t)n + 1, 0);
    }
    feed(agg, 1);
    for (uint64_t req = 1; req <= 400 && total == 0; req++) {
        delta(4, 20000, 0);
        feed(agg, 1);
        total += lw_agg_judge(agg, req, alerts, 4);
    }
    assert_int_equal(alerts[0].site, 0);
    lw_strbuf_t t = empty_text();
    lw_alerttext_leak(&t, agg, 0);
    assert_text(&t, "[leakwatch] LEAK in sites leakwatch could not track (master site table "
                    "full): +136.7 KiB over 7 requests (19.5 KiB/req) on worker 1\n"
                    "[leakwatch]   not one line: the sum of 4 site definitions that found all "
                    "2 sites of the master's table held (by running workers, by bytes, or for "
                    "an alert); a site's place is reused once no running worker holds it\n"
                    "[leakwatch]   endpoints: other (+175.8 KiB)\n");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_alerttext_oom_per_worker_and_for_all(void **state)
{
    lw_agg_t *agg = fleet();
    const struct {
        lw_alert_oom_t in;
        const char *text;
    } cases[] = {
        /* worker 1's suspect, by its share (app.py:12 is; the flat cache is not) */
        {{1, 101, 500 * MIB, (double)MIB, 520, 1024 * MIB},
         "[leakwatch] OOM worker 1 pid 101: rss 500.0 MiB growing 60.0 MiB/min, limit 1.0 GiB "
         "in ~8m40s\n"
         "[leakwatch]   suspect /srv/app.py:12 in handler(): 127.0 KiB"},
        /* no suspect in worker 2: the line alone */
        {{2, 202, 900 * MIB + 512 * KIB, 100.0 * KIB, 1229, 1024 * MIB},
         "[leakwatch] OOM worker 2 pid 202: rss 900.5 MiB growing 5.9 MiB/min, limit 1.0 GiB "
         "in ~20m29s"},
        /* all workers against a cgroup limit: the fleet's bytes */
        {{0, 1, 3 * 1024 * MIB, 3.0 * MIB, 7, 3 * 1024 * MIB + 21 * MIB},
         "[leakwatch] OOM all workers: rss 3.0 GiB growing 180.0 MiB/min, cgroup limit 3.0 GiB "
         "in ~0m07s\n"
         "[leakwatch]   suspect /srv/app.py:12 in handler(): 127.9 KiB"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lw_strbuf_t t = empty_text();
        lw_alerttext_oom(&t, agg, &cases[i].in);
        assert_text(&t, cases[i].text);
    }
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_alerttext_native_with_the_workers_largest_sites(void **state)
{
    lw_agg_t *agg = fleet();
    lw_alert_native_t w1 = {1, 101, 420 * KIB, {true, false, 5 * MIB, 2500, 2097.152}, false,
                            3 * MIB / 2};
    lw_alert_native_t w2 = {2, 202, -1, {true, false, 3 * MIB, 10, -1.0}, false, 0};

    (void)state;
    lw_strbuf_t t = empty_text();
    lw_alerttext_native(&t, agg, &w1);
    assert_text(&t, "[leakwatch] NATIVE worker 1 pid 101: rss +5.0 MiB over 2500 requests "
                    "(2.0 KiB/req) that no Python site explains (tracked 420.0 KiB, "
                    "malloc free 1.5 MiB)\n"
                    "[leakwatch]   python site /srv/cache.py:40 in fill(): 293.0 KiB, flat\n"
                    "[leakwatch]   python site /srv/app.py:12 in handler(): 127.0 KiB, growing");
    /* a library site is not judged on its own: worker 2 shows none; odd readings say 0 B */
    t = empty_text();
    lw_alerttext_native(&t, agg, &w2);
    assert_text(&t, "[leakwatch] NATIVE worker 2 pid 202: rss +3.0 MiB over 10 requests "
                    "(0 B/req) that no Python site explains (tracked 0 B)\n"
                    "[leakwatch]   python site /srv/views.py:31 in index(): 4.0 KiB, flat");
    /* judged on time (a mule's, a spooler's): ticks of a tenth of a second */
    lw_alert_native_t timed = {3, 303, 0, {true, false, 3 * MIB, 25, 0}, true, 0};
    t = empty_text();
    lw_alerttext_native(&t, agg, &timed);
    assert_text(&t, "[leakwatch] NATIVE worker 3 pid 303: rss +3.0 MiB over 2.5 s (1.2 MiB/s) "
                    "that no Python site explains (tracked 0 B)\n"
                    "[leakwatch]   python site /srv/app.py:12 in handler(): 1000 B, growing");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

static void test_alerttext_last_words_say_suspects_or_the_oom_warning(void **state)
{
    lw_agg_t *agg = fleet();
    lw_departure_t held_two = {1, 101, 2, {0, 0, 0}, {126000, 4096, 0}};
    lw_departure_t held_none = {2, 202, 0, {0, 0, 0}, {0, 0, 0}};
    lw_departure_t d;

    (void)state;
    held_two.suspects[0] = app_id;
    held_two.suspects[1] = rollup_id;
    const struct {
        const lw_departure_t *d;
        lw_endcause_t cause;
        bool warned;
        const char *text; /* NULL: silent */
    } cases[] = {
        {&held_two, LW_END_MAX_REQUESTS, false,
         "[leakwatch] LAST WORDS worker 1 pid 101, recycled by --max-requests: "
         "/srv/app.py:12 in handler() held 123.0 KiB, /srv/views.py:31 in index() held 4.0 KiB"},
        {&held_none, LW_END_OOM_KILLED, true,
         "[leakwatch] LAST WORDS worker 2 pid 202, killed by the kernel's OOM killer: it had an "
         "OOM warning"},
        {&held_none, LW_END_GONE, false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lw_strbuf_t t = empty_text();
        bool said = lw_alerttext_last_words(&t, agg, cases[i].d, cases[i].cause, cases[i].warned);
        assert_int_equal(said, cases[i].text != NULL);
        assert_text(&t, cases[i].text ? cases[i].text : "");
    }
    /* a departure as the aggregator notes it: worker 1 respawned */
    hello(111, 2);
    feed(agg, 1);
    assert_int_equal(lw_agg_departures(agg, &d, 1), 1);
    lw_strbuf_t t = empty_text();
    assert_true(lw_alerttext_last_words(&t, agg, &d, LW_END_GONE, false));
    assert_text(&t, "[leakwatch] LAST WORDS worker 1 pid 101, gone: a signal, a crash or a reload "
                    "(uWSGI's log says which): /srv/app.py:12 in handler() held 127.0 KiB");
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

/* An alert appended to a text near its first allocation's end must grow
 * it; each allocation that fails leaves a failed text and nothing leaked. */
static void test_alerttext_every_allocation_failure_fails_the_text(void **state)
{
    lw_agg_t *agg = fleet();
    lw_alert_oom_t oom = {1, 101, 500 * MIB, (double)MIB, 520, 1024 * MIB};
    char filler[4000];
    size_t len;

    (void)state;
    memset(filler, 'x', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    for (int fail_at = 0;; fail_at++) {
        int before = live_allocs;
        lw_strbuf_t t;
        allocs_left = fail_at;
        lw_strbuf_init(&t, &alloc, 0);
        lw_strbuf_put(&t, "%s", filler);
        lw_alerttext_leak(&t, agg, app_id);
        lw_alerttext_oom(&t, agg, &oom);
        char *text = lw_strbuf_finish(&t, &len);
        allocs_left = -1;
        if (text) {
            assert_true(fail_at > 1); /* the first buffer and a bigger one */
            assert_int_equal(strncmp(text + strlen(filler), "[leakwatch] LEAK ", 17), 0);
            alloc.free(text);
            break;
        }
        assert_true(t.failed);
        assert_int_equal(live_allocs, before);
    }
    lw_agg_free(agg);
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alerttext_leak_line_with_endpoints_and_traceback),
        cmocka_unit_test(test_alerttext_held_and_a_leak_said_again),
        cmocka_unit_test(test_alerttext_leak_forms),
        cmocka_unit_test(test_alerttext_a_pseudo_site_by_its_name),
        cmocka_unit_test(test_alerttext_names_mules_and_spoolers),
        cmocka_unit_test(test_alerttext_leak_in_sites_that_could_not_be_tracked),
        cmocka_unit_test(test_alerttext_oom_per_worker_and_for_all),
        cmocka_unit_test(test_alerttext_native_with_the_workers_largest_sites),
        cmocka_unit_test(test_alerttext_last_words_say_suspects_or_the_oom_warning),
        cmocka_unit_test(test_alerttext_every_allocation_failure_fails_the_text),
    };
    return cmocka_run_group_tests_name("alerttext", tests, NULL, NULL);
}

/* detect: a folder of series, each with the verdict it must get
 * (tests/unit/detect/NAME.series, written by generate.py there). */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

static const char *data_dir(void)
{
    const char *d = getenv("LW_DETECT_CASES");
    return d ? d : "tests/unit/detect";
}

struct outcome {
    int leak_alerts;
    int64_t first_alert_growth;
    int64_t max_growth;   /* from the header, 0 = no limit */
    int expect_leak;
};

static int run_case(const char *path, struct outcome *o)
{
    FILE *f = fopen(path, "r");
    char line[256];
    lw_detect_cfg_t cfg = {0, 2, 1};
    lw_detect_site_t site;
    int points = 0;

    if (!f)
        return -1;
    memset(o, 0, sizeof(*o));
    lw_detect_reset(&site);
    while (fgets(line, sizeof(line), f)) {
        unsigned long long req;
        long long bytes;
        char key[32], value[64];

        if (sscanf(line, "# %31[a-z_]: %63s", key, value) == 2) {
            if (!strcmp(key, "verdict"))
                o->expect_leak = !strcmp(value, "leak");
            else if (!strcmp(key, "threshold"))
                cfg.threshold = atoll(value);
            else if (!strcmp(key, "confirm"))
                cfg.confirm = (uint32_t)atoi(value);
            else if (!strcmp(key, "interval"))
                cfg.interval = atoll(value);
            else if (!strcmp(key, "max_growth"))
                o->max_growth = atoll(value);
            continue;
        }
        if (sscanf(line, "%llu %lld", &req, &bytes) != 2)
            continue;
        lw_verdict_t v = lw_detect_update(&site, &cfg, req, bytes);
        if (v.kind == LW_VERDICT_LEAK) {
            if (o->leak_alerts == 0)
                o->first_alert_growth = v.growth;
            o->leak_alerts++;
        }
        points++;
    }
    fclose(f);
    return points;
}

static void test_detect_every_case_gets_its_verdict(void **state)
{
    DIR *dir = opendir(data_dir());
    struct dirent *e;
    int cases = 0, leaks = 0, clean = 0, wrong = 0;

    (void)state;
    assert_non_null(dir);
    while ((e = readdir(dir))) {
        char path[512];
        struct outcome o;
        size_t n = strlen(e->d_name);

        if (n < 8 || strcmp(e->d_name + n - 7, ".series"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", data_dir(), e->d_name);
        int points = run_case(path, &o);
        assert_true(points > 0);
        const char *problem = NULL;
        if (o.expect_leak) {
            if (o.leak_alerts == 0)
                problem = "a leak, never alerted";
            else if (o.max_growth && o.first_alert_growth > o.max_growth)
                problem = "alerted too late";
            else if (o.leak_alerts > 6)
                problem = "repeated without doubling";
            leaks++;
        }
        else {
            if (o.leak_alerts)
                problem = "not a leak, alerted";
            clean++;
        }
        print_message("%-32s %s: %d alert(s), first at %lld bytes of growth (limit %lld)%s%s\n",
                      e->d_name, o.expect_leak ? "leak" : "none", o.leak_alerts,
                      (long long)o.first_alert_growth, (long long)o.max_growth,
                      problem ? " -- WRONG: " : "", problem ? problem : "");
        wrong += problem != NULL;
        cases++;
    }
    closedir(dir);
    assert_int_equal(wrong, 0);
    assert_int_equal(cases, leaks + clean);
    assert_true(leaks >= 5);
    assert_true(clean >= 5);
}

static void test_detect_confirms_before_alerting(void **state)
{
    lw_detect_cfg_t cfg = {1000, 3, 1};
    lw_detect_site_t s;
    int suspects = 0, first_leak = -1;

    (void)state;
    lw_detect_reset(&s);
    for (int i = 0; i < 40; i++) {
        lw_verdict_t v = lw_detect_update(&s, &cfg, (uint64_t)i, 100000 + i * 200);
        suspects += v.kind == LW_VERDICT_SUSPECT;
        if (v.kind == LW_VERDICT_LEAK && first_leak < 0)
            first_leak = i;
    }
    /* 1000 bytes of growth come at request 5; confirm = 3 asks for two more
     * looks each T/4 (250 bytes, two requests) further: 7, then 9 alerts.
     * The looks in between (5, 6, 7, 8) are suspicions. */
    assert_int_equal(first_leak, 9);
    assert_int_equal(suspects, 4);
}

static void test_detect_repeats_only_after_doubling(void **state)
{
    lw_detect_cfg_t cfg = {1000, 1, 1};
    lw_detect_site_t s;
    int64_t alerted[8];
    int n = 0;

    (void)state;
    lw_detect_reset(&s);
    for (int i = 0; i < 2000; i++) {
        lw_verdict_t v = lw_detect_update(&s, &cfg, (uint64_t)i, i * 100);
        if (v.kind == LW_VERDICT_LEAK && n < 8)
            alerted[n++] = v.growth;
    }
    assert_true(n >= 4 && n <= 8);
    for (int i = 1; i < n; i++)
        assert_true(alerted[i] >= 2 * alerted[i - 1]);
}

static void test_detect_shift_hides_a_departed_worker(void **state)
{
    lw_detect_cfg_t cfg = {10000, 2, 1};
    lw_detect_site_t s;

    (void)state;
    lw_detect_reset(&s);
    for (int i = 0; i < 20; i++)
        lw_detect_update(&s, &cfg, (uint64_t)i, 50000 + i * 100);
    /* a worker holding 40000 of it is recycled: shift, then feed the new level */
    lw_detect_shift(&s, -40000);
    lw_verdict_t v = lw_detect_update(&s, &cfg, 20, 10000 + 20 * 100);
    assert_false(s.pinned);
    assert_int_equal(v.growth, 20 * 100);
}

/* A leak of 100 a request under garbage of 1200 a request, freed every 10
 * requests (a fall of 12000, more than T/2 of T 20000). Returns the growth at the
 * first LEAK, told of each collection or not; 0 for none by request 2000. */
static int64_t leak_under_garbage(bool told)
{
    lw_detect_cfg_t cfg = {20000, 2, 1};
    lw_detect_site_t s;
    int64_t kept = 0, garbage = 0;

    lw_detect_reset(&s);
    for (int i = 0; i < 2000; i++) {
        kept += 100;
        garbage += 1200;
        if (i % 10 == 9) {
            if (told)
                lw_detect_collected(&s, garbage);
            garbage = 0;
        }
        lw_verdict_t v = lw_detect_update(&s, &cfg, (uint64_t)i, 50000 + kept + garbage);
        if (v.kind == LW_VERDICT_LEAK)
            return kept;
    }
    return 0;
}

static void test_detect_garbage_a_collection_freed_is_no_drop(void **state)
{
    (void)state;
    /* untold, the first fall of more than T/2 makes the peak before it
     * (garbage in it) the base, which the leak must pass by T; told, the
     * fall is no drop: growth counts from the first point, garbage off */
    int64_t untold = leak_under_garbage(false), told = leak_under_garbage(true);
    assert_true(told > 0 && untold > 0);
    assert_true(told + 6000 <= untold); /* 18,800 and 26,900 */
}

static void test_detect_a_withdrawn_leak_needs_a_confirmation_step_more(void **state)
{
    lw_detect_cfg_t cfg = {1000, 2, 1};
    lw_detect_site_t s;
    int i = 0;
    lw_verdict_t v = {0};

    (void)state;
    lw_detect_reset(&s);
    while (v.kind != LW_VERDICT_LEAK && i < 100) {
        v = lw_detect_update(&s, &cfg, (uint64_t)i, 100000 + i * 100);
        i++;
    }
    assert_int_equal(v.kind, LW_VERDICT_LEAK);
    int64_t withdrawn = v.growth;
    lw_detect_withdraw(&s, &cfg, 0);
    /* the looks before T/4 (250) more growth are suspicions, then a LEAK */
    for (;; i++) {
        v = lw_detect_update(&s, &cfg, (uint64_t)i, 100000 + i * 100);
        if (v.growth < withdrawn + 250)
            assert_int_equal(v.kind, LW_VERDICT_SUSPECT);
        else
            break;
    }
    assert_int_equal(v.kind, LW_VERDICT_LEAK);
}

static void test_detect_same_input_same_verdicts(void **state)
{
    lw_detect_cfg_t cfg = {5000, 2, 1};
    lw_detect_site_t a, b;

    (void)state;
    lw_detect_reset(&a);
    lw_detect_reset(&b);
    for (int i = 0; i < 500; i++) {
        int64_t bytes = (i * 37) % 7000 + i * 20;
        lw_verdict_t va = lw_detect_update(&a, &cfg, (uint64_t)i, bytes);
        lw_verdict_t vb = lw_detect_update(&b, &cfg, (uint64_t)i, bytes);
        assert_int_equal(va.kind, vb.kind);
        assert_int_equal(va.growth, vb.growth);
    }
}

/* A leak of 4 KiB a request served fast (the work axis is requests), then
 * at a few a second (each request four units of work: three ticks of
 * activity and itself): per unit of work it grows at a quarter of its old
 * pace, a fill that fades, while per request it is as steady as it was.
 * Returns the growth at the first LEAK, 0 for none by request 400. */
static int64_t leak_that_slows(bool served)
{
    lw_detect_cfg_t cfg = {256 * 1024, 2, 1};
    lw_detect_site_t s;
    uint64_t work = 0;

    lw_detect_reset(&s);
    for (uint64_t n = 0; n <= 400; n++) {
        work += n <= 40 ? 1 : 4;
        lw_verdict_t v = served ? lw_detect_update_served(&s, &cfg, work, n, (int64_t)n * 4096)
                                : lw_detect_update(&s, &cfg, work, (int64_t)n * 4096);
        if (v.kind == LW_VERDICT_LEAK)
            return v.growth;
    }
    return 0;
}

static void test_detect_a_leak_whose_traffic_falls_is_judged_per_request(void **state)
{
    const int64_t t = 256 * 1024;

    (void)state;
    /* judged on the work axis alone: a fill that fades, never announced
     * (before the whole-span test of rule 2, at 2.6 T) */
    assert_int_equal(leak_that_slows(false), 0);
    /* and against the requests served as well: T and T/4 more */
    assert_true(leak_that_slows(true) > t);
    assert_true(leak_that_slows(true) <= t + t / 4 + 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_every_case_gets_its_verdict),
        cmocka_unit_test(test_detect_confirms_before_alerting),
        cmocka_unit_test(test_detect_repeats_only_after_doubling),
        cmocka_unit_test(test_detect_shift_hides_a_departed_worker),
        cmocka_unit_test(test_detect_same_input_same_verdicts),
        cmocka_unit_test(test_detect_garbage_a_collection_freed_is_no_drop),
        cmocka_unit_test(test_detect_a_withdrawn_leak_needs_a_confirmation_step_more),
        cmocka_unit_test(test_detect_a_leak_whose_traffic_falls_is_judged_per_request),
    };
    return cmocka_run_group_tests_name("detect", tests, NULL, NULL);
}

/* native: series of (requests, rss, tracked) looks at one worker, each with
 * the verdict it must get; the resets of a respawn and of a new generation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "native.h"

#define KIB INT64_C(1024)
#define MIB (KIB * KIB)
#define T (2 * MIB)              /* the threshold */
#define PID 4242
#define REQUESTS_PER_LOOK 10     /* a look a second, ten requests a second */
#define LOOKS 600

/* exact sampling (no noise), two confirmations: the plugin's shape */
static const lw_detect_cfg_t cfg = {T, 2, 1};

/* A worker's readings at look `i`. */
typedef lw_native_reading_t (*series_fn)(int i);

/* ... with `malloc_free` bytes that the worker's malloc holds free */
static lw_native_reading_t at_free(int i, int64_t rss, int64_t tracked, int64_t malloc_free)
{
    return (lw_native_reading_t){PID, (uint64_t)i * REQUESTS_PER_LOOK, rss, tracked,
                                 (uint64_t)i * 1000000, malloc_free}; /* a second apart */
}

static lw_native_reading_t at(int i, int64_t rss, int64_t tracked)
{
    return at_free(i, rss, tracked, 0);
}

static lw_native_reading_t flat(int i)
{
    return at(i, 80 * MIB, 20 * MIB);
}

/* RSS grows 6.4 KiB a request, Python holds the same bytes throughout */
static lw_native_reading_t native_growth(int i)
{
    return at(i, 80 * MIB + i * 64 * KIB, 20 * MIB);
}

/* a Python leak: 4 KiB a request tracked, RSS grows twice that (allocator
 * overhead): the unexplained half grows like a leak, Python explains it */
static lw_native_reading_t python_growth(int i)
{
    return at(i, 80 * MIB + i * 80 * KIB, 20 * MIB + i * 40 * KIB);
}

/*
 * Cyclic garbage: tracked bytes pile up a little every look and a gc drops
 * them every GC_EVERY looks, each pile bigger than the last (the records of
 * a long run); RSS follows the highest pile, as allocators keep what a
 * collection frees. Against the current tracked bytes the series would rise
 * by a pile at each gc, a staircase; against their high it stays flat.
 */
#define GC_EVERY 20
static int64_t pile_step(int cycle)
{
    return 5 * KIB + T / 16 * cycle / GC_EVERY;
}

static lw_native_reading_t gc_drops(int i)
{
    int cycle = i / GC_EVERY;
    int64_t pile = pile_step(cycle) * (i % GC_EVERY);
    int64_t last_peak = cycle ? pile_step(cycle - 1) * (GC_EVERY - 1) : 0;
    int64_t high = pile > last_peak ? pile : last_peak;

    return at(i, 80 * MIB + high, 20 * MIB + pile);
}

/*
 * Threads' malloc arenas: RSS grows 6.4 KiB a request, all of it memory
 * malloc holds free (what each thread's arena keeps of what it freed), as
 * steadily as a leak; Python holds the same bytes throughout.
 */
static lw_native_reading_t arenas_keep_freed(int i)
{
    return at_free(i, 80 * MIB + i * 64 * KIB, 20 * MIB, MIB + i * 64 * KIB);
}

/* Native bytes that reuse what malloc held free: RSS stays, malloc's free
 * bytes fall 6.4 KiB a request (from 48 MiB: still 10 MiB at the end). */
static lw_native_reading_t native_reuses_free(int i)
{
    return at_free(i, 120 * MIB, 20 * MIB, 48 * MIB - i * 64 * KIB);
}

/*
 * Python's large objects come and go: T/4 of them, freed every fifth
 * look, become malloc's free bytes, then Python's again. RSS and the sum
 * stay; so does the series (counting both the Python high and malloc's
 * free bytes would drop it by T/4 at each free, a low it then grows from).
 */
static lw_native_reading_t large_objects_churn(int i)
{
    int64_t out = (i / 5) % 2 ? T / 4 : 0;

    return at_free(i, 90 * MIB, 30 * MIB - out, 2 * MIB + out);
}

typedef struct native_case {
    const char *name;
    series_fn series;
    bool leaks;              /* a NATIVE verdict comes */
    bool explained;          /* the detector's LEAK comes, Python explains it */
    int64_t max_growth;      /* no verdict says more; -1: any */
} native_case_t;

static const native_case_t cases[] = {
    {"flat rss", flat, false, false, 0},
    {"rss grows, python does not", native_growth, true, false, -1},
    {"rss grows with python", python_growth, false, true, -1},
    {"gc drops of tracked bytes", gc_drops, false, false, 0},
    {"malloc's arenas keep what threads freed", arenas_keep_freed, false, false, 0},
    {"native bytes reuse malloc's free memory", native_reuses_free, true, false, -1},
    {"python's large objects come and go", large_objects_churn, false, false, 0},
};

static void test_native_every_series_gets_its_verdict(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        lw_native_t n;
        int leaks = 0, explained = 0;
        lw_native_verdict_t first = {0};

        memset(&n, 0, sizeof(n));
        for (int i = 0; i < LOOKS; i++) {
            lw_native_reading_t r = cases[c].series(i);
            lw_native_verdict_t v = lw_native_look(&n, &cfg, &r);
            assert_false(v.leak && v.explained);
            if (cases[c].max_growth >= 0)
                assert_true(v.growth <= cases[c].max_growth);
            if (v.leak && leaks++ == 0)
                first = v;
            explained += v.explained;
        }
        print_message("%s: %d NATIVE, %d explained\n", cases[c].name, leaks, explained);
        assert_int_equal(leaks > 0, cases[c].leaks);
        assert_int_equal(explained > 0, cases[c].explained);
        if (leaks) {
            /* after the detector's confirmation: a second look T/4 further grown */
            assert_true(first.growth >= T + T / 4);
            assert_true(first.growth <= 2 * T);
            assert_true(first.requests > 0);
            assert_true(first.per_request > 0.0);
        }
    }
}

/* Looks of `series` from look `from` to `to`; the number of NATIVE verdicts. */
static int run(lw_native_t *n, series_fn series, int from, int to)
{
    int leaks = 0;

    for (int i = from; i < to; i++) {
        lw_native_reading_t r = series(i);
        leaks += lw_native_look(n, &cfg, &r).leak;
    }
    return leaks;
}

static void test_native_a_count_that_goes_back_starts_again(void **state)
{
    lw_native_t n;
    lw_native_verdict_t v;

    (void)state;
    memset(&n, 0, sizeof(n));
    /* GIVEN native growth of almost T, from a thousand requests on */
    assert_int_equal(run(&n, native_growth, 100, 120), 0);
    lw_native_reading_t r = native_growth(120);
    assert_true(lw_native_look(&n, &cfg, &r).growth > T / 2);
    /* WHEN the slot's count goes back (same pid), RSS as high as before */
    r.requests = 5;
    v = lw_native_look(&n, &cfg, &r);
    /* THEN growth is measured from there */
    assert_int_equal(v.growth, 0);
    assert_int_equal(v.requests, 0);
    r.requests = 15;
    r.rss += 64 * KIB;
    v = lw_native_look(&n, &cfg, &r);
    assert_int_equal(v.growth, 64 * KIB);
    assert_int_equal(v.requests, 10);
}

static void test_native_a_new_generation_starts_its_own_series(void **state)
{
    lw_native_t n;
    lw_native_verdict_t v;

    (void)state;
    memset(&n, 0, sizeof(n));
    /* GIVEN a generation that grew natively, unconfirmed yet, and held 60 MiB of Python */
    for (int i = 0; i < 20; i++) {
        lw_native_reading_t r = native_growth(i);
        r.tracked = i < 10 ? 60 * MIB : 20 * MIB;
        lw_native_look(&n, &cfg, &r);
    }
    /* WHEN its successor (new pid) holds 20 MiB at the next count */
    lw_native_reading_t r = native_growth(20);
    r.pid = PID + 1;
    v = lw_native_look(&n, &cfg, &r);
    /* THEN its series starts at its own first look, against its own high */
    assert_int_equal(v.growth, 0);
    assert_int_equal(v.requests, 0);
    assert_int_equal(n.tracked_high, 20 * MIB);
    assert_int_equal(n.det.base.bytes, r.rss - 20 * MIB);
    /* and its own growth from there makes the NATIVE line, not the old one's */
    int leaks = 0;
    for (int i = 21; i < LOOKS && !leaks; i++) {
        lw_native_reading_t next = native_growth(i);
        next.pid = PID + 1;
        v = lw_native_look(&n, &cfg, &next);
        leaks = v.leak;
        if (leaks)
            assert_int_equal(v.requests, (uint64_t)(i - 20) * REQUESTS_PER_LOOK);
    }
    assert_true(leaks);
}

static void test_native_python_growth_of_a_quarter_explains_it(void **state)
{
    lw_native_t n;
    lw_native_verdict_t v = {0};

    (void)state;
    /* RSS grows 64 KiB a look on top of the Python growth; Python grows by
     * just a quarter of that (explained) or a little less (native). */
    static const struct {
        int64_t python_per_look;
        bool leaks;
    } shares[] = {{16 * KIB, false}, {15 * KIB, true}};
    for (size_t k = 0; k < sizeof(shares) / sizeof(shares[0]); k++) {
        memset(&n, 0, sizeof(n));
        for (int i = 0; i < LOOKS; i++) {
            int64_t python = shares[k].python_per_look * i;
            lw_native_reading_t r = at(i, 80 * MIB + i * 64 * KIB + python, 20 * MIB + python);
            v = lw_native_look(&n, &cfg, &r);
            if (v.leak || v.explained)
                break;
        }
        assert_int_equal(v.leak, shares[k].leaks);
        assert_int_equal(v.explained, !shares[k].leaks);
    }
}

/*
 * The analyst's loop over one worker leaking `leak` bytes a request at
 * `rate` requests a second from t = 0 (RSS 80 MiB, Python flat): it wakes
 * every IDLE_US, or sooner when a look is due (analyst.c), and looks when
 * lw_native_due says so. Returns the growth since the first look at the
 * first NATIVE verdict (-1: none within `seconds`); *looks gets the looks.
 */
#define IDLE_US 20000
static int64_t leaked_at_alert(double rate, int64_t leak, double seconds, int *looks)
{
    lw_native_t n;
    uint64_t now = 0, end = (uint64_t)(seconds * 1e6);
    int64_t first_rss = -1;

    memset(&n, 0, sizeof(n));
    *looks = 0;
    while (now < end) {
        if (lw_native_due(&n, now, PID, (uint64_t)(rate * (double)now / 1e6), 0)) {
            uint64_t requests = (uint64_t)(rate * (double)now / 1e6);
            lw_native_reading_t r = {PID, requests, 80 * MIB + (int64_t)requests * leak,
                                     20 * MIB, now, 0};
            (*looks)++;
            if (first_rss < 0)
                first_rss = r.rss;
            if (lw_native_look(&n, &cfg, &r).leak)
                return r.rss - first_rss;
        }
        uint64_t due = lw_native_next_us(&n);
        now = due > now && due < now + IDLE_US ? due : now + IDLE_US;
    }
    return -1;
}

static void test_native_a_leak_is_announced_by_4T_at_any_request_rate(void **state)
{
    (void)state;
    /* 64 KiB a request, from a trickle to more than a worker serves */
    static const double rates[] = {1, 10, 100, 1000, 5000, 20000};
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        int looks;
        int64_t leaked = leaked_at_alert(rates[i], 64 * KIB, 3600, &looks);
        print_message("%6.0f req/s: NATIVE after %.2fT of growth, %d looks\n", rates[i],
                      (double)leaked / (double)T, looks);
        assert_true(leaked >= T);
        assert_true(leaked <= 4 * T);
    }
}

/* RSS grows in lumps: a look a moment after another sees little of the
 * growth the one before saw, and the next look must still come at the pace
 * of both (taken alone, 12 KiB in 4 ms put it 21 ms away, 27 requests of a
 * native leak served flat out). */
static void test_native_a_look_that_saw_little_keeps_the_recent_pace(void **state)
{
    lw_native_t n;
    static const struct { uint64_t us; int64_t rss; } looks[] = {
        {100000, 80 * MIB}, {103000, 80 * MIB + 196 * KIB}, {107000, 80 * MIB + 208 * KIB}};

    (void)state;
    memset(&n, 0, sizeof(n));
    for (size_t i = 0; i < sizeof(looks) / sizeof(looks[0]); i++) {
        lw_native_reading_t r = {PID, 40 + i, looks[i].rss, 20 * MIB, looks[i].us, 0};
        lw_native_look(&n, &cfg, &r);
    }
    /* 208 KiB in 7 ms: T/16 (128 KiB) in about 4.3 ms, not the last look's 43 ms */
    uint64_t wait = lw_native_next_us(&n) - 107000;
    assert_true(wait >= LW_NATIVE_FASTEST_US);
    assert_true(wait <= (uint64_t)(T / 16) * 7000 / (208 * KIB) + 1);
}

/* A worker that served one request in the 4 ms after its warm-up (its
 * looks saw little and put the next 3.9 ms away) and then 15 in the next
 * 4 ms (Debian 13's tree, monolithic uWSGI): the requests call the look,
 * not the schedule, so no quarter of the series falls in a gap. */
static void test_native_requests_call_a_look_before_its_time(void **state)
{
    lw_native_t n;
    static const struct { uint64_t us, requests; int64_t rss; } looks[] = {
        {100000, 30, 80 * MIB}, {101200, 30, 80 * MIB + 30 * KIB},
        {104100, 31, 80 * MIB + 70 * KIB}};

    (void)state;
    memset(&n, 0, sizeof(n));
    for (size_t i = 0; i < sizeof(looks) / sizeof(looks[0]); i++) {
        lw_native_reading_t r = {PID, looks[i].requests, looks[i].rss, 20 * MIB, looks[i].us, 0};
        lw_native_look(&n, &cfg, &r);
    }
    uint64_t soon = 104100 + LW_NATIVE_FASTEST_US;
    assert_true(lw_native_next_us(&n) > soon); /* the schedule alone waits */
    /* no request since: not due; one: due, but never sooner than the fastest */
    assert_false(lw_native_due(&n, soon, PID, 31, 0));
    assert_false(lw_native_due(&n, soon - 1, PID, 32, 0));
    assert_true(lw_native_due(&n, soon, PID, 32, 0));
    /* a longer series asks for a sixteenth of its span since the base (30) */
    lw_native_reading_t r = {PID, 350, 80 * MIB + 100 * KIB, 20 * MIB, 200000, 0};
    lw_native_look(&n, &cfg, &r);
    assert_true(lw_native_next_us(&n) > 201000);
    assert_false(lw_native_due(&n, 201000, PID, 365, 0)); /* 15 of 335 */
    assert_true(lw_native_due(&n, 201000, PID, 371, 0));  /* 21 of 341 */
}

static void test_native_flat_rss_is_read_once_a_second(void **state)
{
    lw_native_t n;
    uint64_t now = 0;

    (void)state;
    memset(&n, 0, sizeof(n));
    /* the first looks come soon (no rate known yet), then further apart */
    for (int i = 0; i < 20; i++) {
        lw_native_reading_t r = {PID, (uint64_t)i, 80 * MIB, 20 * MIB, now, 0};
        assert_true(lw_native_due(&n, now, PID, (uint64_t)i, 0));
        lw_native_look(&n, &cfg, &r);
        assert_false(lw_native_due(&n, now + LW_NATIVE_FASTEST_US - 1, PID, (uint64_t)i, 0));
        assert_true(lw_native_next_us(&n) - now <= LW_NATIVE_SLOWEST_US);
        now = lw_native_next_us(&n);
    }
    lw_native_reading_t r = {PID, 20, 80 * MIB, 20 * MIB, now, 0};
    lw_native_look(&n, &cfg, &r);
    assert_int_equal(lw_native_next_us(&n) - now, LW_NATIVE_SLOWEST_US);
    /* a clock that went back: due at once rather than in the far future */
    assert_true(lw_native_due(&n, now - 1, PID, 20, 0));
    /* RSS that grows T at once: the next look comes at the fastest */
    r = (lw_native_reading_t){PID, 21, 80 * MIB + T, 20 * MIB, now + 1000, 0};
    lw_native_look(&n, &cfg, &r);
    assert_int_equal(lw_native_next_us(&n) - r.now_us, LW_NATIVE_FASTEST_US);
}

static void test_native_a_generation_is_looked_at_after_its_warmup(void **state)
{
    lw_native_t n;

    (void)state;
    memset(&n, 0, sizeof(n));
    /* the first generation: its slot's first 20 requests are its warm-up */
    assert_false(lw_native_due(&n, 0, PID, 0, 20));
    assert_false(lw_native_due(&n, 5000, PID, 19, 20));
    assert_true(lw_native_due(&n, 6000, PID, 20, 20));
    lw_native_reading_t r = {PID, 20, 80 * MIB, 20 * MIB, 6000, 0};
    lw_native_look(&n, &cfg, &r);
    assert_false(lw_native_due(&n, 6001, PID, 21, 20)); /* looked at just now */
    /* its successor, first seen with the slot at 500 requests, waits for 520,
     * though its own first look is due at once from then on */
    assert_false(lw_native_due(&n, 9000000, PID + 1, 500, 20));
    assert_false(lw_native_due(&n, 9000001, PID + 1, 519, 20));
    assert_true(lw_native_due(&n, 9000002, PID + 1, 520, 20));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_every_series_gets_its_verdict),
        cmocka_unit_test(test_native_a_count_that_goes_back_starts_again),
        cmocka_unit_test(test_native_a_new_generation_starts_its_own_series),
        cmocka_unit_test(test_native_python_growth_of_a_quarter_explains_it),
        cmocka_unit_test(test_native_a_leak_is_announced_by_4T_at_any_request_rate),
        cmocka_unit_test(test_native_a_look_that_saw_little_keeps_the_recent_pace),
        cmocka_unit_test(test_native_requests_call_a_look_before_its_time),
        cmocka_unit_test(test_native_flat_rss_is_read_once_a_second),
        cmocka_unit_test(test_native_a_generation_is_looked_at_after_its_warmup),
    };
    return cmocka_run_group_tests_name("native", tests, NULL, NULL);
}

/* alertlog: counts by kind, the history ring (first lines, cut, wrapping,
 * oldest first), the outbox it fills, every allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alertlog.h"

#include "failing_alloc.h"

#define T0 1700000000 /* unix seconds */

static lw_alertlog_t *empty_log(void)
{
    lw_alertlog_t *log;

    allocs_left = -1;
    live_allocs = 0;
    log = lw_alertlog_new(&alloc);
    assert_non_null(log);
    return log;
}

static int raise_text(lw_alertlog_t *log, const char *kind, const char *text, int64_t now)
{
    return lw_alertlog_raise(log, kind, text, strlen(text), now);
}

static void test_alertlog_counts_by_kind(void **state)
{
    lw_alertlog_t *log = empty_log();
    static const struct {
        const char *kind;
        uint64_t count;
    } expect[] = {{"LEAK", 3}, {"NATIVE", 1}, {"OOM", 2}, {"LAST WORDS", 1}, {"HELD", 1}};
    const char *raised[] = {LW_ALERT_LEAK, LW_ALERT_OOM,  LW_ALERT_LEAK, LW_ALERT_LAST_WORDS,
                            LW_ALERT_OOM,  LW_ALERT_LEAK, LW_ALERT_NATIVE, "OTHER", LW_ALERT_HELD};
    const lw_alert_count_t *kinds;
    size_t n;

    (void)state;
    kinds = lw_alertlog_kinds(log, &n);
    assert_int_equal(n, 5);
    assert_int_equal(lw_alertlog_total(log), 0);
    for (size_t i = 0; i < sizeof(raised) / sizeof(raised[0]); i++)
        assert_int_equal(raise_text(log, raised[i], "[leakwatch] an alert", T0), 0);
    for (size_t k = 0; k < n; k++) {
        assert_string_equal(kinds[k].kind, expect[k].kind);
        assert_int_equal(kinds[k].count, expect[k].count);
    }
    /* a kind of no known name is kept and said, not counted */
    assert_int_equal(lw_alertlog_total(log), 8);
    lw_report_alert_t hist[LW_ALERTLOG_HISTORY];
    assert_int_equal(lw_alertlog_history(log, hist), 9);
    assert_string_equal(hist[7].kind, "OTHER");
    assert_int_equal(lw_outbox_count(lw_alertlog_outbox(log)), 9);
    lw_alertlog_free(log);
    assert_int_equal(live_allocs, 0);
}

static void test_alertlog_history_keeps_first_lines_and_wraps(void **state)
{
    lw_alertlog_t *log = empty_log();
    lw_report_alert_t hist[LW_ALERTLOG_HISTORY];
    const int extra = 10;
    char text[128];

    (void)state;
    assert_int_equal(lw_alertlog_history(log, hist), 0);
    for (int i = 0; i < LW_ALERTLOG_HISTORY + extra; i++) {
        snprintf(text, sizeof(text), "[leakwatch] alert %d\n[leakwatch]   detail %d", i, i);
        raise_text(log, i % 2 ? LW_ALERT_OOM : LW_ALERT_LEAK, text, T0 + i);
        /* before the ring wraps: every alert so far */
        if (i == LW_ALERTLOG_HISTORY - 1)
            assert_int_equal(lw_alertlog_history(log, hist), LW_ALERTLOG_HISTORY);
    }
    /* the latest LW_ALERTLOG_HISTORY, oldest first */
    assert_int_equal(lw_alertlog_history(log, hist), LW_ALERTLOG_HISTORY);
    for (int k = 0; k < LW_ALERTLOG_HISTORY; k++) {
        int i = k + extra;
        snprintf(text, sizeof(text), "[leakwatch] alert %d", i);
        assert_int_equal(hist[k].time, T0 + i);
        assert_string_equal(hist[k].kind, i % 2 ? "OOM" : "LEAK");
        assert_string_equal(hist[k].text, text);
    }
    /* the whole texts went to the outbox, and clearing it leaves the history */
    lw_outbox_t *ob = lw_alertlog_outbox(log);
    const char *kind;
    size_t len;
    assert_int_equal(lw_outbox_count(ob), LW_ALERTLOG_HISTORY + extra);
    assert_string_equal(lw_outbox_get(ob, 0, &kind, &len),
                        "[leakwatch] alert 0\n[leakwatch]   detail 0");
    lw_outbox_clear(ob);
    assert_int_equal(lw_alertlog_history(log, hist), LW_ALERTLOG_HISTORY);
    assert_int_equal(lw_alertlog_total(log), LW_ALERTLOG_HISTORY + extra);
    lw_alertlog_free(log);
    assert_int_equal(live_allocs, 0);
}

static void test_alertlog_cuts_a_long_first_line(void **state)
{
    lw_alertlog_t *log = empty_log();
    lw_report_alert_t hist[LW_ALERTLOG_HISTORY];
    static char text[2 * LW_ALERTLOG_LINE];
    const char *kind;
    size_t len;

    (void)state;
    memset(text, 'a', sizeof(text) - 1);
    text[LW_ALERTLOG_LINE + 10] = '\n';
    raise_text(log, LW_ALERT_LEAK, text, T0);
    /* a first line of exactly what fits, and one without a second line */
    text[LW_ALERTLOG_LINE + 10] = 'a';
    text[LW_ALERTLOG_LINE - 1] = '\0';
    raise_text(log, LW_ALERT_LEAK, text, T0);
    assert_int_equal(lw_alertlog_history(log, hist), 2);
    assert_int_equal(strlen(hist[0].text), LW_ALERTLOG_LINE - 1);
    assert_int_equal(strlen(hist[1].text), LW_ALERTLOG_LINE - 1);
    assert_memory_equal(hist[1].text, text, LW_ALERTLOG_LINE - 1);
    /* the log says all of it */
    lw_outbox_get(lw_alertlog_outbox(log), 0, &kind, &len);
    assert_int_equal(len, sizeof(text) - 1);
    lw_alertlog_free(log);
}

static void test_alertlog_every_allocation_failure(void **state)
{
    (void)state;
    live_allocs = 0;
    for (int fail_at = 0;; fail_at++) {
        allocs_left = fail_at;
        lw_alertlog_t *log = lw_alertlog_new(&alloc);
        allocs_left = -1;
        if (log) {
            assert_true(fail_at > 2); /* the log, its history, its outbox */
            lw_alertlog_free(log);
            break;
        }
        assert_int_equal(live_allocs, 0);
    }
    /* an outbox that cannot take the alert: still counted and listed */
    lw_alertlog_t *log = empty_log();
    lw_report_alert_t hist[LW_ALERTLOG_HISTORY];
    allocs_left = 0;
    assert_int_equal(raise_text(log, LW_ALERT_NATIVE, "[leakwatch] NATIVE worker 1", T0), -ENOMEM);
    allocs_left = -1;
    assert_int_equal(lw_outbox_dropped(lw_alertlog_outbox(log)), 1);
    assert_int_equal(lw_outbox_count(lw_alertlog_outbox(log)), 0);
    assert_int_equal(lw_alertlog_total(log), 1);
    assert_int_equal(lw_alertlog_history(log, hist), 1);
    assert_string_equal(hist[0].text, "[leakwatch] NATIVE worker 1");
    lw_alertlog_free(log);
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertlog_counts_by_kind),
        cmocka_unit_test(test_alertlog_history_keeps_first_lines_and_wraps),
        cmocka_unit_test(test_alertlog_cuts_a_long_first_line),
        cmocka_unit_test(test_alertlog_every_allocation_failure),
    };
    return cmocka_run_group_tests_name("alertlog", tests, NULL, NULL);
}

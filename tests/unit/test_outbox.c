/* outbox: alerts queued in order, copied, kept across growth, cleared for
 * reuse; every allocation failure drops the one alert and is counted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "outbox.h"

#include "failing_alloc.h"

static void test_outbox_keeps_alerts_in_order_as_copies(void **state)
{
    lw_outbox_t *ob = lw_outbox_new(&alloc);
    char text[64] = "[leakwatch] LEAK a.py:1\n[leakwatch]   detail";
    const char *kind;
    size_t len;

    (void)state;
    assert_non_null(ob);
    assert_int_equal(lw_outbox_count(ob), 0);
    assert_null(lw_outbox_get(ob, 0, &kind, &len));
    assert_int_equal(lw_outbox_put(ob, "LEAK", text, strlen(text)), 0);
    assert_int_equal(lw_outbox_put(ob, "OOM", "[leakwatch] OOM", 15), 0);
    memset(text, 'x', sizeof(text) - 1); /* the caller's buffer is reused at once */
    assert_int_equal(lw_outbox_count(ob), 2);
    assert_string_equal(lw_outbox_get(ob, 0, &kind, &len),
                        "[leakwatch] LEAK a.py:1\n[leakwatch]   detail");
    assert_string_equal(kind, "LEAK");
    assert_int_equal(len, strlen("[leakwatch] LEAK a.py:1\n[leakwatch]   detail"));
    assert_string_equal(lw_outbox_get(ob, 1, &kind, &len), "[leakwatch] OOM");
    assert_string_equal(kind, "OOM");
    assert_null(lw_outbox_get(ob, 2, &kind, &len));
    /* a text of a known length is taken as it is: only len bytes */
    assert_int_equal(lw_outbox_put(ob, "NATIVE", "abcdef", 3), 0);
    assert_string_equal(lw_outbox_get(ob, 2, &kind, &len), "abc");
    assert_int_equal(lw_outbox_dropped(ob), 0);
    lw_outbox_free(ob);
    assert_int_equal(live_allocs, 0);
}

static void test_outbox_grows_and_is_reused_after_clear(void **state)
{
    lw_outbox_t *ob = lw_outbox_new(&alloc);
    static char big[100000];
    char text[32];
    const char *kind;
    size_t len;

    (void)state;
    memset(big, 'b', sizeof(big));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(text, sizeof(text), "alert %d", i);
            assert_int_equal(lw_outbox_put(ob, "LEAK", text, strlen(text)), 0);
        }
        assert_int_equal(lw_outbox_put(ob, "LEAK", big, sizeof(big)), 0);
        assert_int_equal(lw_outbox_count(ob), 1001);
        assert_string_equal(lw_outbox_get(ob, 0, &kind, &len), "alert 0");
        assert_string_equal(lw_outbox_get(ob, 999, &kind, &len), "alert 999");
        assert_non_null(lw_outbox_get(ob, 1000, &kind, &len));
        assert_int_equal(len, sizeof(big));
        int before = live_allocs;
        lw_outbox_clear(ob);
        assert_int_equal(lw_outbox_count(ob), 0);
        assert_int_equal(live_allocs, before); /* kept for the next round */
    }
    lw_outbox_free(ob);
    assert_int_equal(live_allocs, 0);
}

static void test_outbox_every_allocation_failure_drops_one_alert(void **state)
{
    static char chunk[500]; /* 40 of them outgrow the first bytes (16 KiB) */
    const char *kind;
    size_t len;

    (void)state;
    memset(chunk, 'c', sizeof(chunk));
    allocs_left = 0;
    assert_null(lw_outbox_new(&alloc));
    allocs_left = -1;
    assert_int_equal(live_allocs, 0);
    for (int fail_at = 0; fail_at < 8; fail_at++) {
        lw_outbox_t *ob = lw_outbox_new(&alloc);
        assert_int_equal(lw_outbox_put(ob, "LEAK", "first", 5), 0);
        allocs_left = fail_at;
        int rc = 0;
        int i;
        for (i = 0; i < 40 && rc == 0; i++) /* puts that must grow both arrays */
            rc = lw_outbox_put(ob, "OOM", chunk, sizeof(chunk));
        allocs_left = -1;
        if (rc == 0) {
            assert_int_equal(lw_outbox_dropped(ob), 0);
            lw_outbox_free(ob);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(lw_outbox_dropped(ob), 1);
        assert_int_equal(lw_outbox_count(ob), (size_t)i); /* the failed one is not queued */
        assert_string_equal(lw_outbox_get(ob, 0, &kind, &len), "first");
        /* and it works again once memory is back */
        assert_int_equal(lw_outbox_put(ob, "LEAK", "again", 5), 0);
        assert_string_equal(lw_outbox_get(ob, (size_t)i, &kind, &len), "again");
        lw_outbox_free(ob);
        assert_int_equal(live_allocs, 0);
    }
    assert_int_equal(live_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_keeps_alerts_in_order_as_copies),
        cmocka_unit_test(test_outbox_grows_and_is_reused_after_clear),
        cmocka_unit_test(test_outbox_every_allocation_failure_drops_one_alert),
    };
    return cmocka_run_group_tests_name("outbox", tests, NULL, NULL);
}

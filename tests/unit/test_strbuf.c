/* strbuf: appends, growth past the first block, HTML escaping, sticky failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "failing_alloc.h"
#include "strbuf.h"

static void test_strbuf_appends_and_finishes(void **state)
{
    lw_strbuf_t t;
    size_t len = 0;
    char *s;

    (void)state;
    lw_strbuf_init(&t, &alloc, 0);
    lw_strbuf_put(&t, "%s:%d", "app.py", 12);
    lw_strbuf_put(&t, "%s", "");
    lw_strbuf_put(&t, " %lld", (long long)-3);
    s = lw_strbuf_finish(&t, &len);
    assert_non_null(s);
    assert_string_equal(s, "app.py:12 -3");
    assert_int_equal(len, strlen(s));
    alloc.free(s);
    assert_int_equal(live_allocs, 0);
}

static void test_strbuf_grows_past_its_first_block(void **state)
{
    enum { N = 3000 };
    lw_strbuf_t t;
    size_t len = 0;
    char *s;

    (void)state;
    lw_strbuf_init(&t, &alloc, 16);
    for (int i = 0; i < N; i++)
        lw_strbuf_put(&t, "%04d", i % 10000);
    s = lw_strbuf_finish(&t, &len);
    assert_non_null(s);
    assert_int_equal(len, 4 * N);
    assert_int_equal(strlen(s), 4 * N);       /* NUL-terminated at its length */
    assert_memory_equal(s + 4 * (N - 1), "2999", 4);
    alloc.free(s);
    assert_int_equal(live_allocs, 0);
}

static void test_strbuf_escapes_html(void **state)
{
    lw_strbuf_t t;
    size_t len;
    char *s;

    (void)state;
    lw_strbuf_init(&t, &alloc, 0);
    lw_strbuf_put_html(&t, "<a href=\"x\">Tom & Jerry's</a>");
    lw_strbuf_put_html(&t, "");
    lw_strbuf_put_html(&t, "plain");
    s = lw_strbuf_finish(&t, &len);
    assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;plain");
    alloc.free(s);
}

/* Every allocation, failed in turn: the failure sticks, nothing leaks. */
static void test_strbuf_failure_is_sticky_and_clean(void **state)
{
    (void)state;
    for (int fail = 0; fail < 8; fail++) {
        lw_strbuf_t t;
        size_t len = 12345;
        allocs_left = fail;
        lw_strbuf_init(&t, &alloc, 0);
        for (int i = 0; i < 2000; i++)
            lw_strbuf_put(&t, "%s", "0123456789");
        lw_strbuf_put_html(&t, "<>");
        char *s = lw_strbuf_finish(&t, &len);
        allocs_left = -1;
        if (s) {
            assert_int_equal(len, 20000 + 8);
            alloc.free(s);
        }
        else {
            assert_true(t.failed);
        }
        assert_int_equal(live_allocs, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_appends_and_finishes),
        cmocka_unit_test(test_strbuf_grows_past_its_first_block),
        cmocka_unit_test(test_strbuf_escapes_html),
        cmocka_unit_test(test_strbuf_failure_is_sticky_and_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* error: one text per code, never NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "error.h"

static const int known[] = {0,       -EINVAL, -ERANGE, -ENOMEM, -ENAMETOOLONG,
                            -ENOSPC, -ENOENT, -EAGAIN};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

static void test_error_known_codes_have_distinct_texts(void **state)
{
    (void)state;
    for (size_t i = 0; i < NKNOWN; i++) {
        const char *a = lw_strerror(known[i]);

        assert_non_null(a);
        assert_true(strlen(a) > 0);
        assert_string_not_equal(a, "unknown error");
        for (size_t j = i + 1; j < NKNOWN; j++)
            assert_string_not_equal(a, lw_strerror(known[j]));
    }
    assert_string_equal(lw_strerror(-EINVAL), "invalid value");
    assert_string_equal(lw_strerror(-ERANGE), "value out of range");
}

static void test_error_unknown_codes(void **state)
{
    /* positive errno values are not codes: the core returns them negated */
    const int unknown[] = {-9999, 42, EINVAL, ENOMEM, -EPERM, INT_MIN, INT_MAX};

    (void)state;
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        const char *s = lw_strerror(unknown[i]);

        assert_non_null(s);
        assert_string_equal(s, "unknown error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_known_codes_have_distinct_texts),
        cmocka_unit_test(test_error_unknown_codes),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}

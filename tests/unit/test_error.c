/* error: one text per code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "error.h"

static void test_error_texts_are_distinct_and_never_null(void **state)
{
    const int codes[] = {0, -EINVAL, -ERANGE, -ENOMEM, -ENAMETOOLONG, -ENOSPC, -ENOENT, -EAGAIN};
    const size_t n = sizeof(codes) / sizeof(codes[0]);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        const char *a = lw_strerror(codes[i]);
        assert_non_null(a);
        assert_true(strlen(a) > 0);
        assert_string_not_equal(a, "unknown error");
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(a, lw_strerror(codes[j]));
    }
    assert_string_equal(lw_strerror(-9999), "unknown error");
    assert_string_equal(lw_strerror(42), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_texts_are_distinct_and_never_null),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}

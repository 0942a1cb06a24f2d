/* size: the option value parser. Table-driven, with every rejection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "size.h"

#define K (UINT64_C(1) << 10)
#define M (UINT64_C(1) << 20)
#define G (UINT64_C(1) << 30)
#define T (UINT64_C(1) << 40)

static const struct {
    const char *text;
    uint64_t bytes;
} accepted[] = {
    {"2097152", 2 * M}, {"512k", 512 * K}, {"2M", 2 * M},   {"2MB", 2 * M},
    {"2MiB", 2 * M},    {"1G", G},         {"1g", G},       {"2mb", 2 * M},
    {"2 MB", 2 * M},    {"  2M  ", 2 * M}, {"\t4k\t", 4 * K}, {"0", 0},
    {"0k", 0},          {"1b", 1},         {"1B", 1},       {"1T", T},
    {"1TiB", T},        {"7kb", 7 * K},    {"3GiB", 3 * G}, {"1152921504606846976", LW_SIZE_MAX},
    {"1048576T", LW_SIZE_MAX},
};

static const struct {
    const char *text;
    int err;
    const char *why; /* a word the reason must contain, or NULL */
} rejected[] = {
    {"2XB", -EINVAL, "unit"},
    {"-1", -EINVAL, "negative"},
    {"+1", -EINVAL, "sign"},
    {"", -EINVAL, "empty"},
    {"   ", -EINVAL, "empty"},
    {"1.5M", -EINVAL, "fraction"},
    {"1,5M", -EINVAL, "fraction"},
    {"0x10", -EINVAL, "unit"},
    {"1e6", -EINVAL, "unit"},
    {"M", -EINVAL, "digits"},
    {"2 M B", -EINVAL, "unit"},
    {"12 34", -EINVAL, "unit"},
    {"2MBs", -EINVAL, "unit"},
    {"2KiBi", -EINVAL, "unit"},
    {"1024P", -EINVAL, "unit"},
    {"1152921504606846977", -ERANGE, "too large"},
    {"1048577T", -ERANGE, "too large"},
    {"18446744073709551616", -ERANGE, "too large"},
    {"999999999999999999999999999999", -ERANGE, "too large"},
    {"1073741825G", -ERANGE, "too large"},
};

static void test_size_parse_accepts_every_documented_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        uint64_t out = 12345;
        const char *why = NULL;
        int rc = lw_size_parse(accepted[i].text, &out, &why);
        if (rc != 0 || out != accepted[i].bytes)
            fail_msg("\"%s\": rc %d, got %llu, want %llu", accepted[i].text, rc,
                     (unsigned long long)out, (unsigned long long)accepted[i].bytes);
    }
}

static void test_size_parse_rejects_with_a_reason_and_no_change(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
        uint64_t out = 777;
        const char *why = NULL;
        int rc = lw_size_parse(rejected[i].text, &out, &why);
        if (rc != rejected[i].err || out != 777 || !why ||
            (rejected[i].why && !strstr(why, rejected[i].why)))
            fail_msg("\"%s\": rc %d (want %d), out %llu, why \"%s\"", rejected[i].text, rc,
                     rejected[i].err, (unsigned long long)out, why ? why : "(null)");
    }
}

static void test_size_parse_null_text_is_empty(void **state)
{
    uint64_t out = 5;
    const char *why = NULL;

    (void)state;
    assert_int_equal(lw_size_parse(NULL, &out, &why), -EINVAL);
    assert_int_equal(out, 5);
    assert_non_null(strstr(why, "empty"));
    /* why may be NULL */
    assert_int_equal(lw_size_parse("2XB", &out, NULL), -EINVAL);
}

static void test_count_parse_bounds(void **state)
{
    uint64_t out = 99;
    const char *why = NULL;

    (void)state;
    assert_int_equal(lw_count_parse("1", 1, 128, &out, &why), 0);
    assert_int_equal(out, 1);
    assert_int_equal(lw_count_parse(" 128 ", 1, 128, &out, &why), 0);
    assert_int_equal(out, 128);
    out = 99;
    assert_int_equal(lw_count_parse("0", 1, 128, &out, &why), -ERANGE);
    assert_non_null(strstr(why, "too small"));
    assert_int_equal(lw_count_parse("129", 1, 128, &out, &why), -ERANGE);
    assert_non_null(strstr(why, "too large"));
    assert_int_equal(lw_count_parse("12k", 1, 128, &out, &why), -EINVAL);
    assert_int_equal(lw_count_parse("-3", 0, 128, &out, &why), -EINVAL);
    assert_int_equal(lw_count_parse("", 0, 128, &out, &why), -EINVAL);
    assert_int_equal(lw_count_parse("1.0", 0, 128, &out, &why), -EINVAL);
    assert_int_equal(out, 99);
    assert_int_equal(lw_count_parse("18446744073709551615", 0, UINT64_MAX, &out, &why), 0);
    assert_true(out == UINT64_MAX);
    assert_int_equal(lw_count_parse("18446744073709551616", 0, UINT64_MAX, &out, &why), -ERANGE);
}

static void test_size_format_for_humans(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(lw_size_format(0, buf, sizeof(buf)), "0 B");
    assert_string_equal(lw_size_format(1023, buf, sizeof(buf)), "1023 B");
    assert_string_equal(lw_size_format(1024, buf, sizeof(buf)), "1.0 KiB");
    assert_string_equal(lw_size_format(1536, buf, sizeof(buf)), "1.5 KiB");
    assert_string_equal(lw_size_format(2 * M, buf, sizeof(buf)), "2.0 MiB");
    assert_string_equal(lw_size_format(G, buf, sizeof(buf)), "1.0 GiB");
    assert_string_equal(lw_size_format(LW_SIZE_MAX, buf, sizeof(buf)), "1.0 EiB");
    assert_non_null(lw_size_format(UINT64_MAX, buf, sizeof(buf)));
    char tiny[4];
    lw_size_format(2 * M, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), 3);
    buf[0] = 'x';
    lw_size_format(5, buf, 0);
    assert_int_equal(buf[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_parse_accepts_every_documented_form),
        cmocka_unit_test(test_size_parse_rejects_with_a_reason_and_no_change),
        cmocka_unit_test(test_size_parse_null_text_is_empty),
        cmocka_unit_test(test_count_parse_bounds),
        cmocka_unit_test(test_size_format_for_humans),
    };
    return cmocka_run_group_tests_name("size", tests, NULL, NULL);
}

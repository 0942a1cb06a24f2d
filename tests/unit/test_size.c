/* size: the option value parser and printer. Table-driven, with every
 * documented form and every rejection. */
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

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *text;
    uint64_t bytes;
} accepted[] = {
    {"2097152", 2 * M},
    {"512k", 512 * K},
    {"2M", 2 * M},
    {"2MB", 2 * M},
    {"2MiB", 2 * M},
    {"1G", G},
    {"1g", G},
    {"2mb", 2 * M},
    {"2 MB", 2 * M},
    {"  2M  ", 2 * M},
    {"\t4k\t", 4 * K},
    {"0", 0},
    {"0k", 0},
    {"1b", 1},
    {"1B", 1},
    {"1T", T},
    {"1TiB", T},
    /* every spelling of every unit, in mixed case */
    {"3kb", 3 * K},
    {"3KiB", 3 * K},
    {"3kib", 3 * K},
    {"3m", 3 * M},
    {"3Mb", 3 * M},
    {"3mib", 3 * M},
    {"3GB", 3 * G},
    {"3GiB", 3 * G},
    {"3t", 3 * T},
    {"3TB", 3 * T},
    {"3tib", 3 * T},
    {"007", 7},
    {"1152921504606846976", LW_SIZE_MAX}, /* LW_SIZE_MAX in bytes */
    {"1048576T", LW_SIZE_MAX},            /* (LW_SIZE_MAX >> 40) T */
    {"1073741824G", LW_SIZE_MAX},
};

static const struct {
    const char *text;
    int err;
    const char *why; /* a word the reason must contain */
} rejected[] = {
    {"2XB", -EINVAL, "unit"},
    {"-1", -EINVAL, "negative"},
    {"+1", -EINVAL, "sign"},
    {"", -EINVAL, "empty"},
    {"   ", -EINVAL, "empty"},
    {NULL, -EINVAL, "empty"},
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
    {"1152921504606846977", -ERANGE, "too large"}, /* LW_SIZE_MAX + 1 */
    {"1048577T", -ERANGE, "too large"},
    {"1073741825G", -ERANGE, "too large"},
    {"18446744073709551616", -ERANGE, "too large"}, /* 2^64 */
    {"999999999999999999999999999999", -ERANGE, "too large"},
};

static const char *show(const char *s)
{
    return s ? s : "(null)";
}

static void test_size_parse_accepts_every_documented_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(accepted); i++) {
        uint64_t out = SENTINEL;
        const char *why = NULL;
        int rc = lw_size_parse(accepted[i].text, &out, &why);

        if (rc != 0 || out != accepted[i].bytes)
            fail_msg("\"%s\": rc %d (%s), got %llu, want %llu", accepted[i].text, rc,
                     show(why), (unsigned long long)out,
                     (unsigned long long)accepted[i].bytes);
    }
}

static void test_size_parse_rejects_with_a_reason_and_no_change(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(rejected); i++) {
        uint64_t out = SENTINEL;
        const char *why = NULL;
        int rc = lw_size_parse(rejected[i].text, &out, &why);

        if (rc != rejected[i].err || out != SENTINEL || !why || !strstr(why, rejected[i].why))
            fail_msg("\"%s\": rc %d (want %d), out %llu, why \"%s\" (want \"%s\")",
                     show(rejected[i].text), rc, rejected[i].err, (unsigned long long)out,
                     show(why), rejected[i].why);
    }
}

static void test_size_parse_reason_is_optional(void **state)
{
    uint64_t out = SENTINEL;

    (void)state;
    assert_int_equal(lw_size_parse("2XB", &out, NULL), -EINVAL);
    assert_int_equal(lw_size_parse("99999999999999999999", &out, NULL), -ERANGE);
    assert_true(out == SENTINEL);
    assert_int_equal(lw_size_parse("3k", &out, NULL), 0);
    assert_true(out == 3 * K);
}

static void test_count_parse_bounds(void **state)
{
    uint64_t out = SENTINEL;
    const char *why = NULL;

    (void)state;
    /* small maxima: a digit above the maximum is out of range, not wrapped */
    out = SENTINEL;
    assert_int_equal(lw_count_parse("7", 0, 5, &out, &why), -ERANGE);
    assert_int_equal(lw_count_parse("59", 0, 5, &out, &why), -ERANGE);
    assert_int_equal(lw_count_parse("1", 0, 0, &out, &why), -ERANGE);
    assert_int_equal(lw_count_parse("9", 0, 8, &out, &why), -ERANGE);
    assert_true(out == SENTINEL);
    assert_int_equal(lw_count_parse("5", 0, 5, &out, &why), 0);
    assert_int_equal(out, 5);
    assert_int_equal(lw_count_parse("1", 1, 128, &out, &why), 0); /* min */
    assert_true(out == 1);
    assert_int_equal(lw_count_parse("128", 1, 128, &out, &why), 0); /* max */
    assert_true(out == 128);
    assert_int_equal(lw_count_parse(" 7 ", 1, 128, &out, &why), 0);
    assert_true(out == 7);

    out = SENTINEL;
    why = NULL;
    assert_int_equal(lw_count_parse("0", 1, 128, &out, &why), -ERANGE); /* min - 1 */
    assert_non_null(why);
    assert_non_null(strstr(why, "too small"));
    why = NULL;
    assert_int_equal(lw_count_parse("129", 1, 128, &out, &why), -ERANGE); /* max + 1 */
    assert_non_null(why);
    assert_non_null(strstr(why, "too large"));
    assert_true(out == SENTINEL);
}

static void test_count_parse_rejects_what_is_not_a_plain_count(void **state)
{
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"12k", "whole number"}, {"-3", "negative"}, {"+3", "sign"}, {"", "empty"},
        {NULL, "empty"},         {"1.0", "fraction"}, {"1 2", "whole number"},
        {"0x1", "whole number"}, {"x", "digits"},
    };

    (void)state;
    for (size_t i = 0; i < COUNT(bad); i++) {
        uint64_t out = SENTINEL;
        const char *why = NULL;
        int rc = lw_count_parse(bad[i].text, 0, 128, &out, &why);

        if (rc != -EINVAL || out != SENTINEL || !why || !strstr(why, bad[i].why))
            fail_msg("\"%s\": rc %d (want %d), out %llu, why \"%s\" (want \"%s\")",
                     show(bad[i].text), rc, -EINVAL, (unsigned long long)out, show(why),
                     bad[i].why);
    }
}

static void test_count_parse_full_64_bit_range(void **state)
{
    uint64_t out = SENTINEL;

    (void)state;
    assert_int_equal(lw_count_parse("18446744073709551615", 0, UINT64_MAX, &out, NULL), 0);
    assert_true(out == UINT64_MAX);
    out = SENTINEL;
    assert_int_equal(lw_count_parse("18446744073709551616", 0, UINT64_MAX, &out, NULL), -ERANGE);
    assert_true(out == SENTINEL);
    /* max + 1 for maxima with one, two and more digits */
    assert_int_equal(lw_count_parse("9", 0, 9, &out, NULL), 0);
    assert_int_equal(lw_count_parse("10", 0, 9, &out, NULL), -ERANGE);
    assert_int_equal(lw_count_parse("65535", 1, 65535, &out, NULL), 0);
    assert_int_equal(lw_count_parse("65536", 1, 65535, &out, NULL), -ERANGE);
    assert_int_equal(lw_count_parse("655350", 1, 65535, &out, NULL), -ERANGE);
    assert_true(out == 65535);
}

static void test_size_format_for_humans(void **state)
{
    static const struct {
        uint64_t bytes;
        const char *text;
    } cases[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1048575, "1.0 MiB"},      /* not "1024.0 KiB" */
        {1073741823, "1.0 GiB"},
        {1024, "1.0 KiB"},
        {1536, "1.5 KiB"},
        {2 * M, "2.0 MiB"},
        {G, "1.0 GiB"},
        {T, "1.0 TiB"},
        {LW_SIZE_MAX, "1.0 EiB"},
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < COUNT(cases); i++) {
        memset(buf, 'x', sizeof(buf));
        assert_ptr_equal(lw_size_format(cases[i].bytes, buf, sizeof(buf)), buf);
        assert_string_equal(buf, cases[i].text);
    }
    /* beyond EiB stays in EiB rather than running off the unit table */
    memset(buf, 'x', sizeof(buf));
    lw_size_format(UINT64_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "16.0 EiB");
}

static void test_size_format_small_buffers(void **state)
{
    char tiny[4], buf[8];

    (void)state;
    memset(tiny, 'x', sizeof(tiny));
    assert_ptr_equal(lw_size_format(2 * M, tiny, sizeof(tiny)), tiny);
    assert_memory_equal(tiny, "2.0", 4); /* truncated, NUL-terminated */
    memset(tiny, 'x', sizeof(tiny));
    lw_size_format(1023, tiny, sizeof(tiny));
    assert_memory_equal(tiny, "102", 4);

    memset(buf, 'x', sizeof(buf));
    assert_ptr_equal(lw_size_format(5, buf, 0), buf);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 'x');
    lw_size_format(5, buf, 1);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_parse_accepts_every_documented_form),
        cmocka_unit_test(test_size_parse_rejects_with_a_reason_and_no_change),
        cmocka_unit_test(test_size_parse_reason_is_optional),
        cmocka_unit_test(test_count_parse_bounds),
        cmocka_unit_test(test_count_parse_rejects_what_is_not_a_plain_count),
        cmocka_unit_test(test_count_parse_full_64_bit_range),
        cmocka_unit_test(test_size_format_for_humans),
        cmocka_unit_test(test_size_format_small_buffers),
    };
    return cmocka_run_group_tests_name("size", tests, NULL, NULL);
}

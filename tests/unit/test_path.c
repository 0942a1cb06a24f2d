/* path: endpoint folding keeps cardinality bounded. Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "path.h"

static const struct {
    const char *in;
    const char *out;
} cases[] = {
    {"/", "/"},
    {"", "/"},
    {"/orders/12345", "/orders/{id}"},
    {"/orders/12345/items?page=2", "/orders/{id}/items"},
    {"/users/42/", "/users/{id}/"},
    {"/a/b/c", "/a/b/c"},
    {"/?q=1", "/"},
    {"/v1/objects/deadbeefdeadbeef", "/v1/objects/{id}"},       /* 16 hex */
    {"/v1/objects/5f3a9c01", "/v1/objects/{id}"},               /* 8 hex with digits */
    {"/static/facade", "/static/facade"},                        /* a word, not an id */
    {"/static/deadbeef", "/static/deadbeef"},                    /* 8 hex letters: a word */
    {"/u/123e4567-e89b-12d3-a456-426614174000/x", "/u/{id}/x"},  /* uuid */
    {"/u/123e4567-e89b-12d3-a456-42661417400/x", "/u/123e4567-e89b-12d3-a456-42661417400/x"},
    {"/v2/items", "/v2/items"},
    {"/2024/05/report", "/{id}/{id}/report"},
    {"//double", "//double"},
};

static void test_path_fold_table(void **state)
{
    char out[LW_ENDPOINT_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = lw_path_fold(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
    }
}

static void test_path_fold_uses_only_len_bytes(void **state)
{
    char out[32];
    const char *raw = "/orders/77 HTTP/1.1";

    (void)state;
    lw_path_fold(raw, 10, out, sizeof(out));
    assert_string_equal(out, "/orders/{id}");
    lw_path_fold(NULL, 0, out, sizeof(out));
    assert_string_equal(out, "/");
}

static void test_path_fold_cuts_long_paths_and_says_so(void **state)
{
    char path[400], out[LW_ENDPOINT_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(path); i++)
        path[i] = i % 10 == 0 ? '/' : 'a';
    size_t n = lw_path_fold(path, sizeof(path), out, sizeof(out));
    assert_int_equal(n, LW_ENDPOINT_MAX - 1);
    assert_string_equal(out + n - 3, "...");
    /* an exact fit is not marked as cut */
    char small[6];
    lw_path_fold("/abcd", 5, small, sizeof(small));
    assert_string_equal(small, "/abcd");
    lw_path_fold("/abcde", 6, small, sizeof(small));
    assert_string_equal(small, "/a...");
    assert_int_equal(lw_path_fold("/x", 2, small, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_fold_table),
        cmocka_unit_test(test_path_fold_uses_only_len_bytes),
        cmocka_unit_test(test_path_fold_cuts_long_paths_and_says_so),
    };
    return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}

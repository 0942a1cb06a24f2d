/* http: the request line of the master's listener, from bytes off the network. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "http.h"

static int parse(const char *text, lw_http_request_t *req)
{
    return lw_http_parse(text, strlen(text), req);
}

static void test_http_a_complete_get(void **state)
{
    lw_http_request_t req;

    (void)state;
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &req), 1);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/metrics");
    assert_int_equal(parse("GET / HTTP/1.0\n\n", &req), 1); /* bare LF, as curl -0 and nc send */
    assert_string_equal(req.path, "/");
}

static void test_http_the_query_string_is_dropped(void **state)
{
    lw_http_request_t req;

    (void)state;
    assert_int_equal(parse("GET /report.json?pretty=1#x HTTP/1.1\r\n\r\n", &req), 1);
    assert_string_equal(req.path, "/report.json");
}

static void test_http_an_incomplete_head_needs_more(void **state)
{
    const char *full = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    lw_http_request_t req;

    (void)state;
    for (size_t n = 0; n < strlen(full); n++) /* every prefix: more, never an error */
        assert_int_equal(lw_http_parse(full, n, &req), 0);
    assert_int_equal(lw_http_parse(full, strlen(full), &req), 1);
}

static void test_http_garbage_is_refused_at_once(void **state)
{
    static const char *const bad[] = {
        "\x16\x03\x01\x02\x01",             /* a TLS hello, refused before any newline */
        "GET\n",                           /* no target */
        "GET /metrics\r\n",                /* no version */
        "GET /metrics HTTP/2.0\r\n",       /* not 1.x */
        "GET metrics HTTP/1.1\r\n",        /* not a path */
        "GET  /metrics HTTP/1.1\r\n",      /* an empty token */
        "GETTINGLONG / HTTP/1.1\r\n",      /* a method longer than any */
        "GET /a\tb HTTP/1.1\r\n",          /* a control byte */
        "GET /metrics HTTP/1.1 extra\r\n", /* trailing words */
        "\r\n\r\n",
    };
    lw_http_request_t req;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &req), -EINVAL);
}

static void test_http_a_path_too_long_is_refused(void **state)
{
    char text[2048];
    lw_http_request_t req;

    (void)state;
    strcpy(text, "GET /");
    memset(text + 5, 'a', LW_HTTP_PATH_MAX);
    strcpy(text + 5 + LW_HTTP_PATH_MAX, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(text, &req), -EINVAL);
    /* just under the bound is kept whole */
    strcpy(text + 5 + LW_HTTP_PATH_MAX - 2, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(text, &req), 1);
    assert_int_equal(strlen(req.path), LW_HTTP_PATH_MAX - 1);
}

static void test_http_an_endless_request_line_is_refused_early(void **state)
{
    char buf[LW_HTTP_LINE_MAX + 2];
    lw_http_request_t req;

    (void)state;
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof(buf) - 5);
    assert_int_equal(lw_http_parse(buf, LW_HTTP_LINE_MAX, &req), 0);
    assert_int_equal(lw_http_parse(buf, LW_HTTP_LINE_MAX + 1, &req), -EINVAL);
}

static void test_http_bytes_are_never_read_past_len(void **state)
{
    char buf[64];
    lw_http_request_t req;

    (void)state;
    memset(buf, 'A', sizeof(buf)); /* no NUL, no newline anywhere */
    assert_int_equal(lw_http_parse(buf, sizeof(buf), &req), 0);
    memcpy(buf, "GET / HTTP/1.1\n\n", 16);
    assert_int_equal(lw_http_parse(buf, 15, &req), 0); /* the blank line is past len */
    assert_int_equal(lw_http_parse(buf, 16, &req), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_a_complete_get),
        cmocka_unit_test(test_http_the_query_string_is_dropped),
        cmocka_unit_test(test_http_an_incomplete_head_needs_more),
        cmocka_unit_test(test_http_garbage_is_refused_at_once),
        cmocka_unit_test(test_http_a_path_too_long_is_refused),
        cmocka_unit_test(test_http_an_endless_request_line_is_refused_early),
        cmocka_unit_test(test_http_bytes_are_never_read_past_len),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}

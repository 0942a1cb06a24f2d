/* addr: listening addresses. Table-driven; every failure leaves *out as it was. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "addr.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *text;
    enum lw_addr_kind kind;
    const char *host_or_path;
    uint16_t port;
} accepted[] = {
    {"127.0.0.1:9300", LW_ADDR_TCP, "127.0.0.1", 9300},
    {":9300", LW_ADDR_TCP, "127.0.0.1", 9300}, /* loopback, not all interfaces */
    {"localhost:1", LW_ADDR_TCP, "localhost", 1},
    {"[::1]:9300", LW_ADDR_TCP, "::1", 9300},
    {"[fe80::1:2]:443", LW_ADDR_TCP, "fe80::1:2", 443},
    {"0.0.0.0:65535", LW_ADDR_TCP, "0.0.0.0", 65535},
    {"my-host.example:80", LW_ADDR_TCP, "my-host.example", 80},
    {"/run/lw.sock", LW_ADDR_UNIX, "/run/lw.sock", 0},
    {"lw.sock", LW_ADDR_UNIX, "lw.sock", 0},
    {"./a:b/c.sock", LW_ADDR_UNIX, "./a:b/c.sock", 0}, /* has a '/', so a path */
};

static const struct {
    const char *text;
    int err;
} rejected[] = {
    {"", -EINVAL},
    {NULL, -EINVAL},
    {"host:", -EINVAL},
    {"host:0", -ERANGE},
    {"host:65536", -ERANGE},
    {"host:abc", -EINVAL},
    {"host:-1", -EINVAL},
    {"host:+80", -EINVAL},
    {"host:80 ", -EINVAL},
    {"::1:9300", -EINVAL}, /* IPv6 needs brackets */
    {"[::1]9300", -EINVAL},
    {"[::1:9300", -EINVAL},
    {"[]:80", -EINVAL},
    {"[::1]:", -EINVAL},
    {"ho st:80", -EINVAL},
    {"host_name:80", -EINVAL},
    {"ho\tst:80", -EINVAL},
};

static void test_addr_parse_accepts_tcp_and_unix_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(accepted); i++) {
        lw_addr_t a;
        const char *why = NULL;

        memset(&a, 0x5a, sizeof(a));
        if (lw_addr_parse(accepted[i].text, &a, &why) != 0)
            fail_msg("\"%s\" rejected: %s", accepted[i].text, why ? why : "(null)");
        assert_int_equal(a.kind, accepted[i].kind);
        if (a.kind == LW_ADDR_TCP) {
            assert_string_equal(a.host, accepted[i].host_or_path);
            assert_int_equal(a.port, accepted[i].port);
            assert_int_equal(a.path[0], '\0');
        }
        else {
            assert_string_equal(a.path, accepted[i].host_or_path);
            assert_int_equal(a.port, 0);
            assert_int_equal(a.host[0], '\0');
        }
    }
}

/* Expects `text` to be refused with `err` and a reason, *out untouched. */
static void expect_refused(const char *text, int err)
{
    lw_addr_t a, before;
    const char *why = NULL;
    int rc;

    memset(&a, 0x5a, sizeof(a));
    before = a;
    rc = lw_addr_parse(text, &a, &why);
    if (rc != err || !why || !why[0] || memcmp(&a, &before, sizeof(a)))
        fail_msg("\"%.40s\": rc %d want %d, why %s, out %s", text ? text : "(null)", rc, err,
                 why ? why : "(null)",
                 memcmp(&a, &before, sizeof(a)) ? "changed" : "unchanged");
}

static void test_addr_parse_rejects_and_leaves_output_alone(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(rejected); i++)
        expect_refused(rejected[i].text, rejected[i].err);
    /* why is optional */
    assert_int_equal(lw_addr_parse("host:0", &(lw_addr_t){0}, NULL), -ERANGE);
}

static void test_addr_parse_unix_path_length_limit(void **state)
{
    char path[LW_ADDR_PATH_MAX + 1];
    lw_addr_t a;
    const char *why = NULL;

    (void)state;
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    path[LW_ADDR_PATH_MAX - 1] = '\0'; /* 107 characters: fits with its NUL */
    assert_int_equal(strlen(path), 107);
    assert_int_equal(lw_addr_parse(path, &a, &why), 0);
    assert_int_equal(a.kind, LW_ADDR_UNIX);
    assert_string_equal(a.path, path);

    path[LW_ADDR_PATH_MAX - 1] = 'p';
    path[LW_ADDR_PATH_MAX] = '\0'; /* 108: no room for the NUL */
    assert_int_equal(strlen(path), 108);
    expect_refused(path, -ENAMETOOLONG);
}

static void test_addr_parse_host_length_limit(void **state)
{
    char host[LW_ADDR_HOST_MAX + 8];
    lw_addr_t a;
    const char *why = NULL;

    (void)state;
    memset(host, 'h', sizeof(host));
    strcpy(host + LW_ADDR_HOST_MAX - 1, ":80"); /* 255-character host: fits */
    assert_int_equal(lw_addr_parse(host, &a, &why), 0);
    assert_int_equal(strlen(a.host), LW_ADDR_HOST_MAX - 1);
    assert_int_equal(a.port, 80);

    memset(host, 'h', sizeof(host));
    strcpy(host + LW_ADDR_HOST_MAX, ":80"); /* 256 characters: too long */
    expect_refused(host, -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_accepts_tcp_and_unix_forms),
        cmocka_unit_test(test_addr_parse_rejects_and_leaves_output_alone),
        cmocka_unit_test(test_addr_parse_unix_path_length_limit),
        cmocka_unit_test(test_addr_parse_host_length_limit),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}

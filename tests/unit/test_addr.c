/* addr: listening addresses. Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "addr.h"

static const struct {
    const char *text;
    enum lw_addr_kind kind;
    const char *host_or_path;
    uint16_t port;
} accepted[] = {
    {"127.0.0.1:9300", LW_ADDR_TCP, "127.0.0.1", 9300},
    {":9300", LW_ADDR_TCP, "127.0.0.1", 9300},
    {"localhost:1", LW_ADDR_TCP, "localhost", 1},
    {"[::1]:9300", LW_ADDR_TCP, "::1", 9300},
    {"0.0.0.0:65535", LW_ADDR_TCP, "0.0.0.0", 65535},
    {"my-host.example:80", LW_ADDR_TCP, "my-host.example", 80},
    {"/run/lw.sock", LW_ADDR_UNIX, "/run/lw.sock", 0},
    {"lw.sock", LW_ADDR_UNIX, "lw.sock", 0},
    {"./a:b/c.sock", LW_ADDR_UNIX, "./a:b/c.sock", 0},
};

static const struct {
    const char *text;
    int err;
} rejected[] = {
    {"", -EINVAL},          {"host:", -EINVAL},     {"host:0", -ERANGE},
    {"host:65536", -ERANGE}, {"host:abc", -ERANGE},  {"host:80 ", -EINVAL},
    {"::1:9300", -EINVAL},  {"[::1]9300", -EINVAL}, {"[]:80", -EINVAL},
    {"ho st:80", -EINVAL},  {"host_name:80", -EINVAL}, {"[::1]:", -EINVAL},
    {"host:-1", -ERANGE},
};

static void test_addr_parse_accepts_tcp_and_unix_forms(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        lw_addr_t a;
        const char *why = NULL;
        if (lw_addr_parse(accepted[i].text, &a, &why) != 0)
            fail_msg("\"%s\" rejected: %s", accepted[i].text, why);
        assert_int_equal(a.kind, accepted[i].kind);
        if (a.kind == LW_ADDR_TCP) {
            assert_string_equal(a.host, accepted[i].host_or_path);
            assert_int_equal(a.port, accepted[i].port);
        }
        else {
            assert_string_equal(a.path, accepted[i].host_or_path);
        }
    }
}

static void test_addr_parse_rejects_and_leaves_output_alone(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
        lw_addr_t a, before;
        const char *why = NULL;
        memset(&a, 0x5a, sizeof(a));
        before = a;
        int rc = lw_addr_parse(rejected[i].text, &a, &why);
        if (rc != rejected[i].err || !why || memcmp(&a, &before, sizeof(a)))
            fail_msg("\"%s\": rc %d want %d, why %s", rejected[i].text, rc, rejected[i].err,
                     why ? why : "(null)");
    }
    lw_addr_t a;
    assert_int_equal(lw_addr_parse(NULL, &a, NULL), -EINVAL);
}

static void test_addr_parse_length_limits(void **state)
{
    char path[LW_ADDR_PATH_MAX + 1], host[LW_ADDR_HOST_MAX + 8];
    lw_addr_t a;
    const char *why;

    (void)state;
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    path[LW_ADDR_PATH_MAX - 1] = '\0'; /* 107 characters: fits */
    assert_int_equal(lw_addr_parse(path, &a, &why), 0);
    path[LW_ADDR_PATH_MAX - 1] = 'p';
    path[LW_ADDR_PATH_MAX] = '\0'; /* 108: too long */
    assert_int_equal(lw_addr_parse(path, &a, &why), -ENAMETOOLONG);
    memset(host, 'h', sizeof(host));
    strcpy(host + LW_ADDR_HOST_MAX, ":80");
    assert_int_equal(lw_addr_parse(host, &a, &why), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_accepts_tcp_and_unix_forms),
        cmocka_unit_test(test_addr_parse_rejects_and_leaves_output_alone),
        cmocka_unit_test(test_addr_parse_length_limits),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}

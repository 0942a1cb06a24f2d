/* config: defaults, every option's rules, one-line errors, cross-checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#define K (UINT64_C(1) << 10)
#define M (UINT64_C(1) << 20)
#define G (UINT64_C(1) << 30)

static lw_config_t cfg;

static int setup(void **state)
{
    (void)state;
    lw_config_init(&cfg);
    return 0;
}

/* Sets name=value and expects success. */
static void ok(const char *name, const char *value)
{
    char err[512] = "";

    if (lw_config_set(&cfg, name, value, err, sizeof(err)) != 0)
        fail_msg("--%s \"%s\" refused: %s", name, value, err);
}

/*
 * Expects a refusal with `code` that leaves cfg unchanged and explains itself
 * on one line: --<name> "<value>": <reason>; expected <forms>.
 */
static void refused(const char *name, const char *value, int code)
{
    char err[1024], prefix[400];
    lw_config_t before = cfg;
    int rc;

    memset(err, 0, sizeof(err));
    rc = lw_config_set(&cfg, name, value, err, sizeof(err));
    if (rc != code)
        fail_msg("--%s \"%s\": rc %d, want %d (%s)", name, value, rc, code, err);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    /* the value is quoted up to 64 bytes, then "..." */
    snprintf(prefix, sizeof(prefix), "--%s \"%.64s%s\":", name, value,
             strlen(value) > 64 ? "..." : "");
    if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, "expected") || strchr(err, '\n'))
        fail_msg("bad message for --%s \"%s\": %s", name, value, err);
}

static void test_config_init_sets_the_defaults(void **state)
{
    char desc[512];

    (void)state;
    memset(&cfg, 0xa5, sizeof(cfg)); /* init must not rely on zeroed memory */
    lw_config_init(&cfg);
    assert_true(cfg.threshold == 2 * M);
    assert_true(cfg.sample_interval == 0);
    assert_int_equal(lw_config_sample_interval(&cfg), 8 * K); /* threshold / 256 */
    assert_int_equal(cfg.exact, 0);
    assert_int_equal(cfg.frames, 16);
    assert_int_equal(cfg.gc, LW_GC_AUTO);
    assert_int_equal(cfg.warmup, 20);
    assert_int_equal(cfg.limit_mode, LW_LIMIT_AUTO);
    assert_true(cfg.memory_limit == 0);
    assert_null(cfg.report);
    assert_int_equal(cfg.report_addr.kind, LW_ADDR_NONE);
    assert_string_equal(cfg.alarm, "leakwatch");
    assert_int_equal(cfg.nignore, 0);
    assert_int_equal(cfg.summary_secs, 0);
    assert_ptr_equal(lw_config_describe(&cfg, desc, sizeof(desc)), desc);
    assert_non_null(strstr(desc, "threshold 2.0 MiB"));
    assert_non_null(strstr(desc, "sampling 8.0 KiB"));
    assert_int_equal(lw_config_check(&cfg, NULL, 0), 0);
}

static void test_config_threshold(void **state)
{
    (void)state;
    ok("leakwatch-threshold", "1k");
    assert_true(cfg.threshold == K);
    ok("leakwatch-threshold", " 512KiB ");
    assert_true(cfg.threshold == 512 * K);
    assert_int_equal(lw_config_sample_interval(&cfg), 2 * K); /* auto follows it */
    refused("leakwatch-threshold", "0", -ERANGE);
    refused("leakwatch-threshold", "512", -ERANGE);
    refused("leakwatch-threshold", "1023", -ERANGE);
    refused("leakwatch-threshold", "2XB", -EINVAL);
    refused("leakwatch-threshold", "", -EINVAL);
    refused("leakwatch-threshold", "-1", -EINVAL);
    refused("leakwatch-threshold", "1.5M", -EINVAL);
    refused("leakwatch-threshold", "1048577T", -ERANGE);
}

static void test_config_sample_rate(void **state)
{
    (void)state;
    ok("leakwatch-sample-rate", "exact");
    assert_int_equal(cfg.exact, 1);
    assert_int_equal(lw_config_sample_interval(&cfg), 1);
    ok("leakwatch-sample-rate", "64k");
    assert_int_equal(cfg.exact, 0);
    assert_true(cfg.sample_interval == 64 * K);
    assert_int_equal(lw_config_sample_interval(&cfg), 64 * K);
    ok("leakwatch-sample-rate", "exact");
    ok("leakwatch-sample-rate", "AUTO");
    assert_int_equal(cfg.exact, 0);
    assert_true(cfg.sample_interval == 0);
    assert_int_equal(lw_config_sample_interval(&cfg), 8 * K);
    refused("leakwatch-sample-rate", "0", -ERANGE);
    refused("leakwatch-sample-rate", "fast", -EINVAL);
    refused("leakwatch-sample-rate", "exactly", -EINVAL);
    refused("leakwatch-sample-rate", "", -EINVAL);
}

static void test_config_frames(void **state)
{
    (void)state;
    ok("leakwatch-frames", "1");
    assert_int_equal(cfg.frames, 1);
    ok("leakwatch-frames", "128");
    assert_int_equal(cfg.frames, 128);
    ok("leakwatch-frames", " 7 ");
    assert_int_equal(cfg.frames, 7);
    refused("leakwatch-frames", "0", -ERANGE);
    refused("leakwatch-frames", "129", -ERANGE);
    refused("leakwatch-frames", "4294967312", -ERANGE); /* 2^32 + 16 must not wrap to 16 */
    refused("leakwatch-frames", "16k", -EINVAL);
}

static void test_config_gc(void **state)
{
    (void)state;
    ok("leakwatch-gc", "request");
    assert_int_equal(cfg.gc, LW_GC_EVERY);
    assert_int_equal(cfg.gc_every, 1);
    ok("leakwatch-gc", "50");
    assert_int_equal(cfg.gc, LW_GC_EVERY);
    assert_int_equal(cfg.gc_every, 50);
    ok("leakwatch-gc", "off");
    assert_int_equal(cfg.gc, LW_GC_OFF);
    ok("leakwatch-gc", "auto");
    assert_int_equal(cfg.gc, LW_GC_AUTO);
    ok("leakwatch-gc", "1000000");
    assert_int_equal(cfg.gc_every, 1000000);
    ok("leakwatch-gc", "off");
    refused("leakwatch-gc", "sometimes", -EINVAL);
    refused("leakwatch-gc", "0", -ERANGE);
    refused("leakwatch-gc", "1000001", -ERANGE);
    assert_int_equal(cfg.gc, LW_GC_OFF); /* a refused N does not switch the mode */
}

static void test_config_warmup_and_summary(void **state)
{
    (void)state;
    ok("leakwatch-warmup", "0");
    assert_true(cfg.warmup == 0);
    ok("leakwatch-warmup", "10000000");
    assert_true(cfg.warmup == 10000000);
    refused("leakwatch-warmup", "10000001", -ERANGE);
    refused("leakwatch-warmup", "many", -EINVAL);
    ok("leakwatch-summary", "60");
    assert_int_equal(cfg.summary_secs, 60);
    ok("leakwatch-summary", "86400");
    assert_int_equal(cfg.summary_secs, 86400);
    ok("leakwatch-summary", "0");
    assert_int_equal(cfg.summary_secs, 0);
    refused("leakwatch-summary", "86401", -ERANGE);
    refused("leakwatch-summary", "1h", -EINVAL);
}

static void test_config_memory_limit(void **state)
{
    (void)state;
    ok("leakwatch-memory-limit", "1G");
    assert_int_equal(cfg.limit_mode, LW_LIMIT_SET);
    assert_true(cfg.memory_limit == G);
    ok("leakwatch-memory-limit", "1M");
    assert_true(cfg.memory_limit == M);
    ok("leakwatch-memory-limit", "off");
    assert_int_equal(cfg.limit_mode, LW_LIMIT_OFF);
    assert_true(cfg.memory_limit == 0);
    ok("leakwatch-memory-limit", "auto");
    assert_int_equal(cfg.limit_mode, LW_LIMIT_AUTO);
    refused("leakwatch-memory-limit", "512k", -ERANGE);
    refused("leakwatch-memory-limit", "0", -ERANGE);
    refused("leakwatch-memory-limit", "lots", -EINVAL);
}

static void test_config_report(void **state)
{
    (void)state;
    ok("leakwatch-report", ":9300");
    assert_string_equal(cfg.report, ":9300");
    assert_int_equal(cfg.report_addr.kind, LW_ADDR_TCP);
    assert_int_equal(cfg.report_addr.port, 9300);
    assert_string_equal(cfg.report_addr.host, "127.0.0.1");
    ok("leakwatch-report", "/run/lw.sock");
    assert_int_equal(cfg.report_addr.kind, LW_ADDR_UNIX);
    assert_string_equal(cfg.report_addr.path, "/run/lw.sock");
    refused("leakwatch-report", "host:0", -ERANGE);
    refused("leakwatch-report", "::1:80", -EINVAL);
    assert_string_equal(cfg.report, "/run/lw.sock");
    ok("leakwatch-report", "off");
    assert_null(cfg.report);
    assert_int_equal(cfg.report_addr.kind, LW_ADDR_NONE);
}

static void test_config_http(void **state)
{
    (void)state;
    assert_null(cfg.http); /* off by default */
    ok("leakwatch-http", ":9400");
    assert_string_equal(cfg.http, ":9400");
    assert_int_equal(cfg.http_addr.kind, LW_ADDR_TCP);
    assert_int_equal(cfg.http_addr.port, 9400);
    assert_string_equal(cfg.http_addr.host, "127.0.0.1"); /* loopback unless a host is named */
    assert_null(cfg.report); /* its own address, not the report's */
    refused("leakwatch-http", "host:99999", -ERANGE);
    refused("leakwatch-http", "", -EINVAL);
    assert_string_equal(cfg.http, ":9400");
    ok("leakwatch-http", "off");
    assert_null(cfg.http);
    assert_int_equal(cfg.http_addr.kind, LW_ADDR_NONE);
}

static void test_config_alarm(void **state)
{
    char longest[LW_ALARM_MAX + 1], too_long[LW_ALARM_MAX + 2];

    (void)state;
    ok("leakwatch-alarm", "my-alarm.1");
    assert_string_equal(cfg.alarm, "my-alarm.1");
    memset(longest, 'a', sizeof(longest));
    longest[LW_ALARM_MAX] = '\0'; /* 64 characters */
    ok("leakwatch-alarm", longest);
    assert_ptr_equal(cfg.alarm, longest); /* not copied: the caller's string */
    memset(too_long, 'b', sizeof(too_long));
    too_long[LW_ALARM_MAX + 1] = '\0'; /* 65 */
    refused("leakwatch-alarm", too_long, -EINVAL);
    refused("leakwatch-alarm", "", -EINVAL);
    refused("leakwatch-alarm", "bad name", -EINVAL);
    refused("leakwatch-alarm", "bad/name", -EINVAL);
    assert_ptr_equal(cfg.alarm, longest);
}

static void test_config_ignore(void **state)
{
    static char many[LW_IGNORE_MAX + 1][24];
    char pattern[LW_PATTERN_MAX + 2];

    (void)state;
    refused("leakwatch-ignore", "", -EINVAL);
    memset(pattern, '*', sizeof(pattern));
    pattern[LW_PATTERN_MAX + 1] = '\0'; /* 256 characters */
    refused("leakwatch-ignore", pattern, -EINVAL);
    pattern[LW_PATTERN_MAX] = '\0'; /* 255 */
    ok("leakwatch-ignore", pattern);
    assert_int_equal(cfg.nignore, 1);
    lw_config_init(&cfg);
    for (int i = 0; i < LW_IGNORE_MAX; i++) {
        snprintf(many[i], sizeof(many[i]), "*/p%d/*", i);
        ok("leakwatch-ignore", many[i]);
        assert_int_equal(cfg.nignore, (uint32_t)i + 1);
        assert_ptr_equal(cfg.ignore[i], many[i]);
    }
    snprintf(many[LW_IGNORE_MAX], sizeof(many[0]), "*/x/*");
    refused("leakwatch-ignore", many[LW_IGNORE_MAX], -ENOSPC);
    assert_int_equal(cfg.nignore, LW_IGNORE_MAX);
}

static void test_config_unknown_option(void **state)
{
    char err[128] = "";
    lw_config_t before = cfg;

    (void)state;
    assert_int_equal(lw_config_set(&cfg, "leakwatch-colour", "red", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "--leakwatch-colour"));
    assert_non_null(strstr(err, "unknown"));
    assert_int_equal(lw_config_set(&cfg, "threshold", "2M", NULL, 0), -ENOENT);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_config_errlen_zero_writes_nothing(void **state)
{
    char err[16];
    lw_config_t before = cfg;

    (void)state;
    /* no buffer at all */
    assert_int_equal(lw_config_set(&cfg, "leakwatch-frames", "0", NULL, 0), -ERANGE);
    assert_int_equal(lw_config_set(&cfg, "leakwatch-nope", "1", NULL, 0), -ENOENT);
    /* a buffer that must not be touched */
    memset(err, 'x', sizeof(err));
    assert_int_equal(lw_config_set(&cfg, "leakwatch-frames", "0", err, 0), -ERANGE);
    for (size_t i = 0; i < sizeof(err); i++)
        assert_int_equal(err[i], 'x');
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    /* a short buffer gets a truncated, terminated message */
    assert_int_equal(lw_config_set(&cfg, "leakwatch-frames", "0", err, 8), -ERANGE);
    assert_memory_equal(err, "--leakw", 8);
    assert_int_equal(err[8], 'x');
}

static void test_config_check_sample_rate_against_threshold(void **state)
{
    char err[512] = "";

    (void)state;
    ok("leakwatch-threshold", "1M");
    ok("leakwatch-sample-rate", "2M");
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--leakwatch-sample-rate"));
    assert_non_null(strstr(err, "--leakwatch-threshold"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(lw_config_check(&cfg, NULL, 0), -EINVAL);
    ok("leakwatch-sample-rate", "1M"); /* equal: fine */
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), 0);
    ok("leakwatch-sample-rate", "exact");
    ok("leakwatch-threshold", "1k"); /* exact passes with any threshold */
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), 0);
    ok("leakwatch-sample-rate", "auto");
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), 0);
    /* exact mode ignores a stale interval, whatever the threshold */
    cfg.exact = 1;
    cfg.sample_interval = 4 * M;
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), 0);
}

static void test_config_describe_names_the_choices(void **state)
{
    char desc[512];

    (void)state;
    ok("leakwatch-sample-rate", "exact");
    ok("leakwatch-gc", "50");
    ok("leakwatch-memory-limit", "1G");
    ok("leakwatch-report", ":9300");
    ok("leakwatch-alarm", "pager");
    lw_config_describe(&cfg, desc, sizeof(desc));
    assert_non_null(strstr(desc, "sampling exact"));
    assert_non_null(strstr(desc, "gc every 50 requests"));
    assert_non_null(strstr(desc, "memory limit 1.0 GiB"));
    assert_non_null(strstr(desc, "report :9300"));
    assert_non_null(strstr(desc, "alarm pager"));
    assert_non_null(strstr(desc, "held-by walks 50 ms"));
    ok("leakwatch-gc", "request");
    ok("leakwatch-hold-budget", "off");
    lw_config_describe(&cfg, desc, sizeof(desc));
    assert_non_null(strstr(desc, "gc every request"));
    assert_non_null(strstr(desc, "held-by walks off"));
}

static void test_config_hold_budget(void **state)
{
    lw_config_t c;
    char err[256];
    static const struct {
        const char *value;
        uint32_t us;
    } good[] = {{"50ms", 50000}, {"200", 200000}, {" 1s ", 1000000}, {"10s", 10000000},
                {"1ms", 1000}, {"10000ms", 10000000}, {"OFF", 0}, {"7 ms", 7000}};
    static const char *const bad[] = {"0", "0ms", "10001ms", "11s", "ms", "", "-5ms", "1.5s",
                                      "50us", "5m", "50msx", "99999999999999999999999999"};

    (void)state;
    lw_config_init(&c);
    assert_int_equal(c.hold_budget_us, 50000);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        lw_config_init(&c);
        assert_int_equal(lw_config_set(&c, "leakwatch-hold-budget", good[i].value, err,
                                       sizeof(err)), 0);
        assert_int_equal(c.hold_budget_us, good[i].us);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lw_config_init(&c);
        assert_true(lw_config_set(&c, "leakwatch-hold-budget", bad[i], err, sizeof(err)) < 0);
        assert_int_equal(c.hold_budget_us, 50000); /* unchanged */
        assert_non_null(strstr(err, "--leakwatch-hold-budget"));
        assert_non_null(strstr(err, "off, or a time from 1ms to 10s"));
        assert_null(strchr(err, '\n'));
    }
}

static void test_config_oom_horizon(void **state)
{
    lw_config_t c;
    char err[512];

    (void)state;
    lw_config_init(&c);
    assert_int_equal(c.oom_horizon, 1800);
    assert_int_equal(lw_config_set(&c, "leakwatch-oom-horizon", "600", err, sizeof(err)), 0);
    assert_int_equal(c.oom_horizon, 600);
    assert_int_equal(lw_config_set(&c, "leakwatch-oom-horizon", "0", err, sizeof(err)), -ERANGE);
    assert_non_null(strstr(err, "--leakwatch-oom-horizon \"0\":"));
    assert_int_equal(lw_config_set(&c, "leakwatch-oom-horizon", "30m", err, sizeof(err)), -EINVAL);
    assert_int_equal(c.oom_horizon, 600);
}

static void test_config_http_sites(void **state)
{
    lw_config_t c;
    char err[256];

    (void)state;
    lw_config_init(&c);
    assert_int_equal(c.http_sites, 50);
    assert_int_equal(lw_config_set(&c, "leakwatch-http-sites", "200", err, sizeof(err)), 0);
    assert_int_equal(c.http_sites, 200);
    assert_int_equal(lw_config_set(&c, "leakwatch-http-sites", "0", err, sizeof(err)), -ERANGE);
    assert_non_null(strstr(err, "--leakwatch-http-sites \"0\": "));
    assert_int_equal(lw_config_set(&c, "leakwatch-http-sites", "1001", err, sizeof(err)), -ERANGE);
    assert_int_equal(lw_config_set(&c, "leakwatch-http-sites", "ten", err, sizeof(err)), -EINVAL);
    assert_int_equal(c.http_sites, 200);
}

static void test_config_error_quotes_the_value_on_one_line(void **state)
{
    lw_config_t c;
    char err[512], long_value[300];

    (void)state;
    lw_config_init(&c);
    /* found by fuzz_config: a newline in the value made a two-line message */
    assert_int_equal(lw_config_set(&c, "leakwatch-warmup", "2\n0\x01", err, sizeof(err)), -EINVAL);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "--leakwatch-warmup \"2\\x0a0\\x01\": "));
    /* a long value is cut */
    memset(long_value, 'z', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    assert_int_equal(lw_config_set(&c, "leakwatch-frames", long_value, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zzz...\": "));
    assert_true(strlen(err) < 64 + 200);
}

static void test_config_describe_stays_on_one_line(void **state)
{
    char desc[1024];

    (void)state;
    /* found by fuzz_config: a unix socket path may hold any byte but a space,
     * and the summary printed it as given, newline included */
    ok("leakwatch-report", "/tmp/a\nb.sock");
    ok("leakwatch-http", "\n");
    lw_config_describe(&cfg, desc, sizeof(desc));
    assert_null(strchr(desc, '\n'));
    assert_non_null(strstr(desc, "report /tmp/a\\x0ab.sock, http \\x0a,"));
    /* a long path is shown whole, not cut like a refused value */
    ok("leakwatch-report",
       "/run/leakwatch/a-rather-long-directory-name/and-a-longer-socket-name.sock");
    lw_config_describe(&cfg, desc, sizeof(desc));
    assert_non_null(strstr(desc, "and-a-longer-socket-name.sock, http"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_oom_horizon),
        cmocka_unit_test(test_config_hold_budget),
        cmocka_unit_test(test_config_http_sites),
        cmocka_unit_test(test_config_error_quotes_the_value_on_one_line),
        cmocka_unit_test_setup(test_config_init_sets_the_defaults, setup),
        cmocka_unit_test_setup(test_config_threshold, setup),
        cmocka_unit_test_setup(test_config_sample_rate, setup),
        cmocka_unit_test_setup(test_config_frames, setup),
        cmocka_unit_test_setup(test_config_gc, setup),
        cmocka_unit_test_setup(test_config_warmup_and_summary, setup),
        cmocka_unit_test_setup(test_config_memory_limit, setup),
        cmocka_unit_test_setup(test_config_report, setup),
        cmocka_unit_test_setup(test_config_alarm, setup),
        cmocka_unit_test_setup(test_config_ignore, setup),
        cmocka_unit_test_setup(test_config_unknown_option, setup),
        cmocka_unit_test_setup(test_config_errlen_zero_writes_nothing, setup),
        cmocka_unit_test_setup(test_config_check_sample_rate_against_threshold, setup),
        cmocka_unit_test_setup(test_config_describe_names_the_choices, setup),
        cmocka_unit_test_setup(test_config_describe_stays_on_one_line, setup),
        cmocka_unit_test_setup(test_config_http, setup),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

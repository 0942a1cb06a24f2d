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

/* Expects a refusal that leaves cfg unchanged and explains itself. */
static void refused(const char *name, const char *value, int err_code)
{
    char err[512] = "", prefix[300];
    lw_config_t before = cfg;
    int rc = lw_config_set(&cfg, name, value, err, sizeof(err));

    if (rc != err_code)
        fail_msg("--%s \"%s\": rc %d, want %d (%s)", name, value, rc, err_code, err);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    snprintf(prefix, sizeof(prefix), "--%s \"%s\":", name, value);
    if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, "expected") || strchr(err, '\n'))
        fail_msg("bad message: %s", err);
}

static void test_config_defaults_serve_production(void **state)
{
    (void)state;
    assert_int_equal(cfg.threshold, 2 << 20);
    assert_int_equal(lw_config_sample_interval(&cfg), 32 << 10);
    assert_false(cfg.exact);
    assert_int_equal(cfg.frames, 16);
    assert_int_equal(cfg.gc, LW_GC_AUTO);
    assert_int_equal(cfg.warmup, 20);
    assert_int_equal(cfg.limit_mode, LW_LIMIT_AUTO);
    assert_null(cfg.report);
    assert_string_equal(cfg.alarm, "leakwatch");
    assert_int_equal(cfg.nignore, 0);
    assert_int_equal(cfg.summary_secs, 0);
    char desc[512];
    assert_non_null(strstr(lw_config_describe(&cfg, desc, sizeof(desc)), "threshold 2.0 MiB"));
    assert_int_equal(lw_config_check(&cfg, NULL, 0), 0);
}

static void test_config_threshold(void **state)
{
    (void)state;
    ok("leakwatch-threshold", "1k");
    assert_int_equal(cfg.threshold, 1024);
    ok("leakwatch-threshold", " 512KiB ");
    assert_int_equal(cfg.threshold, 512 << 10);
    assert_int_equal(lw_config_sample_interval(&cfg), 8 << 10); /* follows the threshold */
    refused("leakwatch-threshold", "0", -ERANGE);
    refused("leakwatch-threshold", "512", -ERANGE);
    refused("leakwatch-threshold", "2XB", -EINVAL);
    refused("leakwatch-threshold", "", -EINVAL);
    refused("leakwatch-threshold", "-1", -EINVAL);
}

static void test_config_sample_rate(void **state)
{
    (void)state;
    ok("leakwatch-sample-rate", "exact");
    assert_true(cfg.exact);
    assert_int_equal(lw_config_sample_interval(&cfg), 1);
    ok("leakwatch-sample-rate", "64k");
    assert_false(cfg.exact);
    assert_int_equal(lw_config_sample_interval(&cfg), 64 << 10);
    ok("leakwatch-sample-rate", "AUTO");
    assert_int_equal(lw_config_sample_interval(&cfg), 32 << 10);
    refused("leakwatch-sample-rate", "0", -ERANGE);
    refused("leakwatch-sample-rate", "fast", -EINVAL);
}

static void test_config_counts_and_words(void **state)
{
    (void)state;
    ok("leakwatch-frames", "1");
    ok("leakwatch-frames", "128");
    assert_int_equal(cfg.frames, 128);
    refused("leakwatch-frames", "0", -ERANGE);
    refused("leakwatch-frames", "129", -ERANGE);
    ok("leakwatch-gc", "request");
    assert_int_equal(cfg.gc, LW_GC_EVERY);
    assert_int_equal(cfg.gc_every, 1);
    ok("leakwatch-gc", "50");
    assert_int_equal(cfg.gc_every, 50);
    ok("leakwatch-gc", "off");
    assert_int_equal(cfg.gc, LW_GC_OFF);
    ok("leakwatch-gc", "auto");
    assert_int_equal(cfg.gc, LW_GC_AUTO);
    refused("leakwatch-gc", "sometimes", -EINVAL);
    refused("leakwatch-gc", "0", -ERANGE);
    ok("leakwatch-warmup", "0");
    assert_int_equal(cfg.warmup, 0);
    refused("leakwatch-warmup", "10000001", -ERANGE);
    ok("leakwatch-summary", "86400");
    refused("leakwatch-summary", "86401", -ERANGE);
    refused("leakwatch-summary", "1h", -EINVAL);
}

static void test_config_memory_limit(void **state)
{
    (void)state;
    ok("leakwatch-memory-limit", "1G");
    assert_int_equal(cfg.limit_mode, LW_LIMIT_SET);
    assert_int_equal(cfg.memory_limit, 1 << 30);
    ok("leakwatch-memory-limit", "off");
    assert_int_equal(cfg.limit_mode, LW_LIMIT_OFF);
    ok("leakwatch-memory-limit", "auto");
    assert_int_equal(cfg.limit_mode, LW_LIMIT_AUTO);
    refused("leakwatch-memory-limit", "512k", -ERANGE);
    refused("leakwatch-memory-limit", "lots", -EINVAL);
}

static void test_config_report_alarm_ignore(void **state)
{
    char many[LW_IGNORE_MAX + 1][24];

    (void)state;
    ok("leakwatch-report", ":9300");
    assert_int_equal(cfg.report_addr.kind, LW_ADDR_TCP);
    assert_int_equal(cfg.report_addr.port, 9300);
    assert_string_equal(cfg.report_addr.host, "127.0.0.1");
    ok("leakwatch-report", "off");
    assert_null(cfg.report);
    refused("leakwatch-report", "host:0", -ERANGE);
    ok("leakwatch-alarm", "my-alarm.1");
    assert_string_equal(cfg.alarm, "my-alarm.1");
    refused("leakwatch-alarm", "", -EINVAL);
    refused("leakwatch-alarm", "bad name", -EINVAL);
    refused("leakwatch-alarm", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -EINVAL);
    refused("leakwatch-ignore", "", -EINVAL);
    for (int i = 0; i < LW_IGNORE_MAX; i++) {
        snprintf(many[i], sizeof(many[i]), "*/p%d/*", i);
        ok("leakwatch-ignore", many[i]);
    }
    assert_int_equal(cfg.nignore, LW_IGNORE_MAX);
    snprintf(many[LW_IGNORE_MAX], sizeof(many[0]), "*/x/*");
    refused("leakwatch-ignore", many[LW_IGNORE_MAX], -ENOSPC);
}

static void test_config_unknown_option_and_silent_errors(void **state)
{
    char err[128] = "";
    lw_config_t before = cfg;

    (void)state;
    assert_int_equal(lw_config_set(&cfg, "leakwatch-colour", "red", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "--leakwatch-colour"));
    assert_int_equal(lw_config_set(&cfg, "leakwatch-frames", "0", NULL, 0), -ERANGE);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_config_check_sample_rate_against_threshold(void **state)
{
    char err[512];

    (void)state;
    ok("leakwatch-threshold", "1M");
    ok("leakwatch-sample-rate", "2M");
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--leakwatch-sample-rate"));
    assert_non_null(strstr(err, "--leakwatch-threshold"));
    ok("leakwatch-sample-rate", "1M");
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), 0);
    ok("leakwatch-sample-rate", "exact");
    assert_int_equal(lw_config_check(&cfg, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_config_defaults_serve_production, setup),
        cmocka_unit_test_setup(test_config_threshold, setup),
        cmocka_unit_test_setup(test_config_sample_rate, setup),
        cmocka_unit_test_setup(test_config_counts_and_words, setup),
        cmocka_unit_test_setup(test_config_memory_limit, setup),
        cmocka_unit_test_setup(test_config_report_alarm_ignore, setup),
        cmocka_unit_test_setup(test_config_unknown_option_and_silent_errors, setup),
        cmocka_unit_test_setup(test_config_check_sample_rate_against_threshold, setup),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

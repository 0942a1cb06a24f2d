/* lw_config_set: every --leakwatch-* option with any value.
 *
 * The options are those of config.c's rules table, extracted from it at build
 * time (fuzz.mk writes config_options.h), plus one unknown name. The first
 * byte b picks the option (b % count) and the starting settings: the
 * defaults, or when (b / count) is odd every option already set away from
 * its default and the ignore list full. The rest is the value.
 *
 * config.h promises: a refused value returns a negative code, leaves *cfg
 * unchanged and writes a one-line message naming the option; an unknown name
 * is -ENOENT; lw_config_check's message is one line, and so is the summary
 * lw_config_describe writes. */
#include <errno.h>

#include "config.h"
#include "config_options.h" /* CONFIG_OPTIONS: "leakwatch-...", ... */
#include "fuzz.h"

static const char *const names[] = {CONFIG_OPTIONS "leakwatch-no-such-option"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static lw_config_t busy;

static int one_line(const char *s)
{
    return !strchr(s, '\n') && !strchr(s, '\r');
}

static void set_ok(lw_config_t *cfg, const char *name, const char *value)
{
    char err[256];

    if (lw_config_set(cfg, name, value, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_config: --%s %s refused: %s\n", name, value, err);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const values[][2] = {
        {"leakwatch-threshold", "8M"},       {"leakwatch-sample-rate", "16k"},
        {"leakwatch-frames", "32"},          {"leakwatch-gc", "100"},
        {"leakwatch-warmup", "5"},           {"leakwatch-memory-limit", "512M"},
        {"leakwatch-report", "/tmp/lw.sock"}, {"leakwatch-http", "[::1]:9400"},
        {"leakwatch-http-sites", "10"},      {"leakwatch-alarm", "pager"},
        {"leakwatch-summary", "60"},         {"leakwatch-oom-horizon", "600"},
    };
    char err[256];

    (void)argc;
    (void)argv;
    /* the extracted names are real options, the last one is not */
    PROMISE(NNAMES > 1);
    for (size_t i = 0; i + 1 < NNAMES; i++) {
        lw_config_t c;
        lw_config_init(&c);
        PROMISE(lw_config_set(&c, names[i], "", err, sizeof(err)) != -ENOENT);
    }
    lw_config_init(&busy);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        set_ok(&busy, values[i][0], values[i][1]);
    for (size_t i = 0; i < LW_IGNORE_MAX; i++)
        set_ok(&busy, "leakwatch-ignore", "*/site-packages/*");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pick = size ? data[0] : 0;
    const char *name = names[pick % NNAMES];
    int known = pick % NNAMES != NNAMES - 1;
    char *value = fuzz_string(size ? data + 1 : data, size ? size - 1 : 0);
    lw_config_t cfg, before;
    char err[256], line[1024];
    int rc;

    if ((pick / NNAMES) % 2)
        cfg = busy;
    else
        lw_config_init(&cfg);
    memcpy(&before, &cfg, sizeof(cfg));
    memset(err, 0, sizeof(err));
    rc = lw_config_set(&cfg, name, value, err, sizeof(err));
    PROMISE(known ? rc != -ENOENT : rc == -ENOENT);
    if (rc < 0) {
        /* refused: cfg unchanged, one line naming the option */
        PROMISE(memcmp(&cfg, &before, sizeof(cfg)) == 0);
        PROMISE(err[0] && strlen(err) < sizeof(err) && one_line(err));
        PROMISE(strstr(err, name) != NULL);
    }
    else {
        PROMISE(rc == 0);
        memset(err, 0, sizeof(err));
        rc = lw_config_check(&cfg, err, sizeof(err));
        PROMISE(rc == 0 || rc == -EINVAL);
        if (rc < 0)
            PROMISE(err[0] && one_line(err));
        lw_config_describe(&cfg, line, sizeof(line));
        PROMISE(strlen(line) < sizeof(line) && one_line(line));
    }
    free(value);
    return 0;
}

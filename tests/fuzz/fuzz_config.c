/* lw_config_set: every --leakwatch-* option with any value. The first byte
 * picks the option (or an unknown name), the rest is the value. */
#include <errno.h>

#include "config.h"
#include "fuzz.h"

static const char *const names[] = {
    "leakwatch-threshold", "leakwatch-sample-rate", "leakwatch-frames",
    "leakwatch-gc", "leakwatch-warmup", "leakwatch-memory-limit", "leakwatch-report",
    "leakwatch-http", "leakwatch-http-sites", "leakwatch-alarm", "leakwatch-ignore",
    "leakwatch-summary", "leakwatch-oom-horizon", "leakwatch-no-such-option",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *name = names[size ? data[0] % (sizeof(names) / sizeof(names[0])) : 0];
    char *value = fuzz_string(size ? data + 1 : data, size ? size - 1 : 0);
    lw_config_t cfg, before;
    char err[256], line[512];
    int rc;

    lw_config_init(&cfg);
    memcpy(&before, &cfg, sizeof(cfg));
    err[0] = '\0';
    rc = lw_config_set(&cfg, name, value, err, sizeof(err));
    if (rc < 0) {
        /* refused: cfg unchanged, one line saying why */
        PROMISE(memcmp(&cfg, &before, sizeof(cfg)) == 0);
        PROMISE(err[0] && strlen(err) < sizeof(err) && !strchr(err, '\n'));
    }
    else {
        PROMISE(rc == 0);
        if (lw_config_check(&cfg, err, sizeof(err)) < 0)
            PROMISE(err[0] && !strchr(err, '\n'));
        lw_config_describe(&cfg, line, sizeof(line));
        PROMISE(strlen(line) < sizeof(line));
    }
    free(value);
    return 0;
}

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "size.h"

typedef int (*setter_fn)(lw_config_t *cfg, const char *value, const char **why);

struct option_rule {
    const char *name;
    setter_fn set;
    const char *forms; /* the accepted form, quoted in every error */
};

/* "auto", "off", ... compared without case and surrounding spaces. */
static int is_word(const char *value, const char *word)
{
    size_t wlen = strlen(word);

    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, word, wlen))
        return 0;
    for (value += wlen; *value; value++) {
        if (*value != ' ' && *value != '\t')
            return 0;
    }
    return 1;
}

static int set_threshold(lw_config_t *cfg, const char *value, const char **why)
{
    uint64_t v;
    int rc = lw_size_parse(value, &v, why);

    if (rc < 0)
        return rc;
    if (v < LW_THRESHOLD_MIN) {
        *why = v ? "too small (minimum 1k)" : "zero is not a threshold";
        return -ERANGE;
    }
    cfg->threshold = v;
    return 0;
}

static int set_sample_rate(lw_config_t *cfg, const char *value, const char **why)
{
    uint64_t v;
    int rc;

    if (is_word(value, "auto") || is_word(value, "exact")) {
        cfg->exact = is_word(value, "exact");
        cfg->sample_interval = 0;
        return 0;
    }
    rc = lw_size_parse(value, &v, why);
    if (rc < 0)
        return rc;
    if (v == 0) {
        *why = "zero is not an interval (use \"exact\" to record every allocation)";
        return -ERANGE;
    }
    cfg->exact = 0;
    cfg->sample_interval = v;
    return 0;
}

/* A count in [min, max] into a 32-bit field, which is left alone on error. */
static int set_u32(uint32_t *field, const char *value, uint32_t min, uint32_t max,
                   const char **why)
{
    uint64_t v;
    int rc = lw_count_parse(value, min, max, &v, why);

    if (rc < 0)
        return rc;
    *field = (uint32_t)v;
    return 0;
}

static int set_frames(lw_config_t *cfg, const char *value, const char **why)
{
    return set_u32(&cfg->frames, value, 1, LW_FRAMES_MAX, why);
}

static int set_gc(lw_config_t *cfg, const char *value, const char **why)
{
    int rc;

    if (is_word(value, "auto")) {
        cfg->gc = LW_GC_AUTO;
        return 0;
    }
    if (is_word(value, "off")) {
        cfg->gc = LW_GC_OFF;
        return 0;
    }
    if (is_word(value, "request")) {
        cfg->gc = LW_GC_EVERY;
        cfg->gc_every = 1;
        return 0;
    }
    rc = set_u32(&cfg->gc_every, value, 1, LW_GC_EVERY_MAX, why);
    if (rc == 0)
        cfg->gc = LW_GC_EVERY;
    return rc;
}

static int set_warmup(lw_config_t *cfg, const char *value, const char **why)
{
    return lw_count_parse(value, 0, LW_WARMUP_MAX, &cfg->warmup, why);
}

static int set_memory_limit(lw_config_t *cfg, const char *value, const char **why)
{
    uint64_t v;
    int rc;

    if (is_word(value, "auto") || is_word(value, "off")) {
        cfg->limit_mode = is_word(value, "off") ? LW_LIMIT_OFF : LW_LIMIT_AUTO;
        cfg->memory_limit = 0;
        return 0;
    }
    rc = lw_size_parse(value, &v, why);
    if (rc < 0)
        return rc;
    if (v < LW_MEMORY_LIMIT_MIN) {
        *why = "too small (minimum 1M)";
        return -ERANGE;
    }
    cfg->limit_mode = LW_LIMIT_SET;
    cfg->memory_limit = v;
    return 0;
}

/* A listener's address: off, or an address kept as given and parsed. */
static int set_address(const char *value, const char **given, lw_addr_t *addr, const char **why)
{
    int rc;

    if (is_word(value, "off")) {
        *given = NULL;
        memset(addr, 0, sizeof(*addr));
        return 0;
    }
    rc = lw_addr_parse(value, addr, why);
    if (rc < 0)
        return rc;
    *given = value;
    return 0;
}

static int set_report(lw_config_t *cfg, const char *value, const char **why)
{
    return set_address(value, &cfg->report, &cfg->report_addr, why);
}

static int set_http(lw_config_t *cfg, const char *value, const char **why)
{
    return set_address(value, &cfg->http, &cfg->http_addr, why);
}

static int set_alarm(lw_config_t *cfg, const char *value, const char **why)
{
    size_t len = strlen(value);

    if (len == 0 || len > LW_ALARM_MAX) {
        *why = len ? "name too long" : "empty name";
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.')) {
            *why = "invalid character in alarm name";
            return -EINVAL;
        }
    }
    cfg->alarm = value;
    return 0;
}

static int set_ignore(lw_config_t *cfg, const char *value, const char **why)
{
    size_t len = strlen(value);

    if (len == 0 || len > LW_PATTERN_MAX) {
        *why = len ? "pattern too long" : "empty pattern";
        return -EINVAL;
    }
    if (cfg->nignore >= LW_IGNORE_MAX) {
        *why = "too many patterns (at most 64)";
        return -ENOSPC;
    }
    cfg->ignore[cfg->nignore++] = value;
    return 0;
}

static int set_summary(lw_config_t *cfg, const char *value, const char **why)
{
    return set_u32(&cfg->summary_secs, value, 0, LW_SUMMARY_MAX, why);
}

static int set_horizon(lw_config_t *cfg, const char *value, const char **why)
{
    return set_u32(&cfg->oom_horizon, value, 1, LW_HORIZON_MAX, why);
}

/* off, or a time: N ms, N s, or N alone (milliseconds); whole numbers. */
static int set_hold_budget(lw_config_t *cfg, const char *value, const char **why)
{
    char digits[24];
    const char *unit = value;
    size_t n = 0;
    uint64_t v, scale = 1000;
    int rc;

    if (is_word(value, "off")) {
        cfg->hold_budget_us = 0;
        return 0;
    }
    while (*unit == ' ' || *unit == '\t')
        unit++;
    while (unit[n] >= '0' && unit[n] <= '9' && n + 1 < sizeof(digits))
        n++;
    memcpy(digits, unit, n);
    digits[n] = '\0';
    unit += n;
    if (is_word(unit, "s"))
        scale = 1000000;
    else if (*unit && !is_word(unit, "ms")) {
        *why = "not a time";
        return -EINVAL;
    }
    rc = lw_count_parse(digits, 1, LW_HOLD_BUDGET_MAX / scale, &v, why);
    if (rc < 0)
        return rc;
    cfg->hold_budget_us = (uint32_t)(v * scale);
    return 0;
}

static int set_http_sites(lw_config_t *cfg, const char *value, const char **why)
{
    return set_u32(&cfg->http_sites, value, 1, LW_HTTP_SITES_MAX, why);
}

static const struct option_rule rules[] = {
    {"leakwatch-threshold", set_threshold, LW_SIZE_FORMS ", at least 1k"},
    {"leakwatch-sample-rate", set_sample_rate,
     "auto, exact, or a mean sampling interval in bytes (e.g. 32k)"},
    {"leakwatch-frames", set_frames, "a whole number from 1 to 128"},
    {"leakwatch-gc", set_gc,
     "auto, request, off, or N to collect every N requests (1 to 1000000)"},
    {"leakwatch-warmup", set_warmup, "a number of requests from 0 to 10000000"},
    {"leakwatch-memory-limit", set_memory_limit,
     "auto, off, or " LW_SIZE_FORMS ", at least 1M"},
    {"leakwatch-report", set_report, "off, " LW_ADDR_FORMS},
    {"leakwatch-http", set_http, "off, " LW_ADDR_FORMS},
    {"leakwatch-http-sites", set_http_sites, "a whole number from 1 to 1000"},
    {"leakwatch-alarm", set_alarm, "an alarm name of 1 to 64 characters [A-Za-z0-9_.-]"},
    {"leakwatch-ignore", set_ignore,
     "a file name pattern such as */site-packages/* (up to 255 characters, 64 patterns)"},
    {"leakwatch-summary", set_summary, "seconds from 0 (off) to 86400"},
    {"leakwatch-oom-horizon", set_horizon, "seconds from 1 to 604800"},
    {"leakwatch-hold-budget", set_hold_budget, "off, or a time from 1ms to 10s (e.g. 50ms, 1s)"},
};

void lw_config_init(lw_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->threshold = LW_THRESHOLD_DEFAULT;
    cfg->frames = LW_FRAMES_DEFAULT;
    cfg->gc = LW_GC_AUTO;
    cfg->warmup = LW_WARMUP_DEFAULT;
    cfg->limit_mode = LW_LIMIT_AUTO;
    cfg->alarm = LW_ALARM_DEFAULT;
    cfg->oom_horizon = LW_HORIZON_DEFAULT;
    cfg->http_sites = LW_HTTP_SITES_DEFAULT;
    cfg->hold_budget_us = LW_HOLD_BUDGET_DEFAULT;
}

/* The value as a message quotes it: control bytes as \xNN (the message
 * stays one line), cut after `max` bytes or where buf ends, with "...".
 * Errors cut at LW_SHOWN_MAX. */
#define LW_SHOWN_MAX 64
static const char *shown(const char *value, size_t max, char *buf, size_t len)
{
    size_t at = 0;
    const char *p = value;

    for (; *p && at + 8 < len && (size_t)(p - value) < max; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            at += (size_t)snprintf(buf + at, len - at, "\\x%02x", c);
        else
            buf[at++] = (char)c;
    }
    snprintf(buf + at, len - at, "%s", *p ? "..." : "");
    return buf;
}

int lw_config_set(lw_config_t *cfg, const char *name, const char *value,
                  char *err, size_t errlen)
{
    const char *why = "invalid value";
    lw_config_t tmp = *cfg;
    int rc;

    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(rules[i].name, name))
            continue;
        rc = rules[i].set(&tmp, value ? value : "", &why);
        if (rc < 0) {
            char quoted[4 * LW_SHOWN_MAX + 8];
            if (errlen > 0)
                snprintf(err, errlen, "--%s \"%s\": %s; expected %s", name,
                         shown(value ? value : "", LW_SHOWN_MAX, quoted, sizeof(quoted)), why,
                         rules[i].forms);
            return rc;
        }
        *cfg = tmp;
        return 0;
    }
    if (errlen > 0)
        snprintf(err, errlen, "--%s: unknown leakwatch option", name);
    return -ENOENT;
}

int lw_config_check(const lw_config_t *cfg, char *err, size_t errlen)
{
    char a[32], b[32];

    if (!cfg->exact && cfg->sample_interval > cfg->threshold) {
        if (errlen > 0)
            snprintf(err, errlen,
                     "--leakwatch-sample-rate %s is above --leakwatch-threshold %s: "
                     "a leak could pass the threshold unseen; use at most the threshold "
                     "(default: threshold/256)",
                     lw_size_format(cfg->sample_interval, a, sizeof(a)),
                     lw_size_format(cfg->threshold, b, sizeof(b)));
        return -EINVAL;
    }
    return 0;
}

uint64_t lw_config_sample_interval(const lw_config_t *cfg)
{
    uint64_t v;

    if (cfg->exact)
        return 1;
    if (cfg->sample_interval)
        return cfg->sample_interval;
    v = cfg->threshold / LW_SAMPLE_DIVISOR;
    return v ? v : 1;
}

char *lw_config_describe(const lw_config_t *cfg, char *buf, size_t len)
{
    char thr[32], rate[32], limit[32], gc[32], hold[32];
    /* addresses as given: a unix socket path may hold a newline */
    char report[4 * LW_ADDR_PATH_MAX], http[4 * LW_ADDR_PATH_MAX];

    lw_size_format(cfg->threshold, thr, sizeof(thr));
    if (cfg->exact)
        snprintf(rate, sizeof(rate), "exact");
    else
        lw_size_format(lw_config_sample_interval(cfg), rate, sizeof(rate));
    if (cfg->limit_mode == LW_LIMIT_SET)
        lw_size_format(cfg->memory_limit, limit, sizeof(limit));
    else
        snprintf(limit, sizeof(limit), "%s", cfg->limit_mode == LW_LIMIT_OFF ? "off" : "auto");
    if (cfg->gc == LW_GC_EVERY && cfg->gc_every == 1)
        snprintf(gc, sizeof(gc), "every request");
    else if (cfg->gc == LW_GC_EVERY)
        snprintf(gc, sizeof(gc), "every %u requests", (unsigned)cfg->gc_every);
    else
        snprintf(gc, sizeof(gc), "%s", cfg->gc == LW_GC_OFF ? "off" : "auto");
    if (cfg->hold_budget_us)
        snprintf(hold, sizeof(hold), "%u ms", (unsigned)(cfg->hold_budget_us / 1000));
    else
        snprintf(hold, sizeof(hold), "off");
    snprintf(buf, len,
             "threshold %s, sampling %s, frames %u, gc %s, warmup %llu requests, "
             "memory limit %s, report %s, http %s, alarm %s, %u ignore patterns, "
             "held-by walks %s",
             thr, rate, (unsigned)cfg->frames, gc, (unsigned long long)cfg->warmup,
             limit, cfg->report ? shown(cfg->report, SIZE_MAX, report, sizeof(report)) : "off",
             cfg->http ? shown(cfg->http, SIZE_MAX, http, sizeof(http)) : "off", cfg->alarm,
             (unsigned)cfg->nignore, hold);
    return buf;
}

/*
 * config.h - leakwatch settings: defaults, validation, description.
 *
 * The plugin hands every --leakwatch-* option to lw_config_set() as uWSGI
 * parses it, then calls lw_config_check() once before fork. Both produce a
 * one-line error naming the option, the value and the accepted form, so the
 * plugin only has to log it and refuse to start.
 *
 * String values are not copied: the config points at the caller's strings,
 * which must outlive it (uWSGI keeps option values for the process lifetime).
 */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define LW_THRESHOLD_DEFAULT (UINT64_C(2) << 20)  /* 2 MiB */
#define LW_THRESHOLD_MIN     (UINT64_C(1) << 10)  /* 1 KiB */
#define LW_SAMPLE_DIVISOR    256    /* auto interval = threshold / 256 */
#define LW_FRAMES_DEFAULT    16
#define LW_FRAMES_MAX        128
#define LW_WARMUP_DEFAULT    20     /* requests per worker (re)spawn */
#define LW_WARMUP_MAX        10000000
#define LW_GC_EVERY_MAX      1000000
#define LW_MEMORY_LIMIT_MIN  (UINT64_C(1) << 20)  /* 1 MiB */
#define LW_ALARM_DEFAULT     "leakwatch"
#define LW_ALARM_MAX         64
#define LW_IGNORE_MAX        64
#define LW_PATTERN_MAX       255
#define LW_SUMMARY_MAX       86400  /* seconds */
#define LW_HORIZON_DEFAULT   1800   /* seconds: OOM warnings this far ahead */
#define LW_HORIZON_MAX       604800 /* a week */
#define LW_HOLD_BUDGET_DEFAULT 50000   /* us: a walk for what holds a leak */
#define LW_HOLD_BUDGET_MAX   10000000   /* us: 10 s */
#define LW_HTTP_SITES_DEFAULT 50    /* /metrics site series (cardinality bound) */
#define LW_HTTP_SITES_MAX    1000

enum lw_gc_mode {
    LW_GC_AUTO = 0, /* collect only before judging a suspect (default) */
    LW_GC_EVERY,    /* collect every gc_every requests ("request" = 1) */
    LW_GC_OFF,      /* never collect on leakwatch's behalf */
};

enum lw_limit_mode {
    LW_LIMIT_AUTO = 0, /* --reload-on-rss, --evil-reload-on-rss, cgroup */
    LW_LIMIT_SET,      /* memory_limit bytes */
    LW_LIMIT_OFF,      /* no OOM projection */
};

typedef struct lw_config {
    uint64_t threshold;        /* bytes of sustained growth that make a leak */
    uint64_t sample_interval;  /* mean bytes between samples; 0 = auto */
    int exact;                 /* record every allocation (debugging, tests) */
    uint32_t frames;           /* traceback depth kept per site */
    enum lw_gc_mode gc;
    uint32_t gc_every;         /* requests, for LW_GC_EVERY */
    uint64_t warmup;           /* requests per worker before baselines count */
    enum lw_limit_mode limit_mode;
    uint64_t memory_limit;     /* bytes, for LW_LIMIT_SET */
    const char *report;        /* as given; NULL = no report listener */
    lw_addr_t report_addr;
    const char *http;          /* as given; NULL = no HTTP listener (/metrics, /report.json) */
    lw_addr_t http_addr;
    uint32_t http_sites;       /* site series on /metrics at most */
    const char *alarm;         /* uWSGI alarm name alerts are raised on */
    const char *ignore[LW_IGNORE_MAX]; /* fnmatch() patterns on file names */
    uint32_t nignore;
    uint32_t summary_secs;     /* 0 = no periodic status line */
    uint32_t oom_horizon;      /* seconds: warn when the memory limit is nearer */
    uint32_t hold_budget_us;   /* a walk for what holds a leak stops after this; 0 = no walk */
} lw_config_t;

/* Fills *cfg with the defaults. Cannot fail. */
void lw_config_init(lw_config_t *cfg);

/*
 * Applies option `name` (as typed, without "--", e.g. "leakwatch-threshold")
 * with `value`. Returns 0; or a negative code, writes a one-line message into
 * err (when errlen > 0) and leaves *cfg unchanged. Unknown names: -ENOENT.
 */
int lw_config_set(lw_config_t *cfg, const char *name, const char *value,
                  char *err, size_t errlen);

/*
 * Checks combinations of settings once all options are in. Returns 0, or
 * -EINVAL with a one-line message in err.
 */
int lw_config_check(const lw_config_t *cfg, char *err, size_t errlen);

/* The effective mean sampling interval in bytes (1 in exact mode). */
uint64_t lw_config_sample_interval(const lw_config_t *cfg);

/* Writes a one-line summary of the settings into buf. Returns buf. */
char *lw_config_describe(const lw_config_t *cfg, char *buf, size_t len);

#endif

/*
 * memlimit.h - the memory limit a worker will meet, and when.
 *
 * Limits, in the order leakwatch takes them: --leakwatch-memory-limit, then
 * uWSGI's --reload-on-rss / --evil-reload-on-rss (per worker), then the
 * cgroup (v2 memory.max, v1 memory.limit_in_bytes; shared by every worker
 * of the cgroup). The cgroup is the process's own, named by
 * /proc/self/cgroup: uWSGI on a host usually runs in a nested one (a
 * systemd service with MemoryMax=), whose limit the hierarchy's root does
 * not show. The caller passes that file's text and the directory the
 * hierarchies are mounted under, so tests use fixture trees.
 */
#ifndef LW_MEMLIMIT_H
#define LW_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* v1's "no limit" is a huge page-aligned number; anything above is "none". */
#define LW_CGROUP_UNLIMITED (UINT64_C(1) << 62)
#define LW_CGROUP_PATH_MAX 4096

/* The process's memory cgroup. */
typedef struct lw_cgroup {
    char dir[LW_CGROUP_PATH_MAX];    /* its directory: root/PATH (v2), root/memory/PATH (v1) */
    char events[LW_CGROUP_PATH_MAX]; /* the file counting its OOM kills (lw_cgroup_oom_kills) */
    uint64_t limit;                  /* bytes, the smallest from dir up to the hierarchy's
                                      * root (a parent's limit bounds its children); 0: none */
} lw_cgroup_t;

/*
 * Reads the limit set in one cgroup directory: `memory.max` (v2) or else
 * `memory.limit_in_bytes` (v1). Returns 0 and *limit (0 = no limit: "max"
 * or v1's unlimited); -ENOENT when neither file exists; -EINVAL when the
 * one read is malformed. *limit is untouched on failure.
 */
int lw_cgroup_limit(const char *dir, uint64_t *limit);

/*
 * Finds the memory cgroup that `self_cgroup` (the text of /proc/self/cgroup)
 * names below `root` (normally "/sys/fs/cgroup"). A v1 line whose
 * controllers include memory ("4:memory:/PATH") wins over the v2 line
 * ("0::/PATH"), as on hybrid hosts; other and malformed lines are skipped.
 * The v1 hierarchy is root/memory, or root itself when that does not exist.
 * When the directory named is not there (a container that sees its own
 * cgroup as the root, without a cgroup namespace) or the text names none,
 * the hierarchy's root stands in. Returns 0 and *cg, its limit the smallest
 * set from the directory up to the hierarchy's root (0 when all say
 * unlimited); -ENOENT when no directory on the way holds a limit file (dir
 * and events are filled all the same, limit is 0); -EINVAL when one is
 * malformed and -ENAMETOOLONG when a path does not fit (*cg unspecified).
 */
int lw_cgroup_find(const char *self_cgroup, const char *root, lw_cgroup_t *cg);

/*
 * Parses the text of a cgroup's OOM-kill counter file (v2 memory.events,
 * v1 memory.oom_control): the "oom_kill N" line. Returns 0 and *kills;
 * -ENOENT when there is no such line (kernels before 4.13); -EINVAL when
 * its count is malformed. *kills is untouched on failure.
 */
int lw_cgroup_oom_kills(const char *text, uint64_t *kills);

/* Where the limit a worker meets comes from (lw_memlimit_choose). */
typedef enum lw_limit_source {
    LW_LIMIT_NONE = 0,        /* none known: no OOM projection */
    LW_LIMIT_FROM_OPTION,     /* --leakwatch-memory-limit */
    LW_LIMIT_FROM_RELOAD_ON_RSS,
    LW_LIMIT_FROM_EVIL_RELOAD_ON_RSS,
    LW_LIMIT_FROM_CGROUP,     /* shared by every worker of the cgroup */
} lw_limit_source_t;

/* What the caller knows when it chooses (bytes; 0 = not set). */
typedef struct lw_limit_readings {
    bool off;                 /* --leakwatch-memory-limit off */
    uint64_t option;          /* --leakwatch-memory-limit SIZE */
    uint64_t reload_on_rss;   /* uWSGI's --reload-on-rss */
    uint64_t evil_reload_on_rss;
    uint64_t cgroup;          /* the cgroup's limit (lw_cgroup_t.limit) */
} lw_limit_readings_t;

typedef struct lw_limit {
    uint64_t bytes;           /* 0 = none */
    bool shared;              /* all workers together (a cgroup), not each */
    lw_limit_source_t source;
} lw_limit_t;

/* The limit workers meet, in the order the top of this file gives. Cannot fail. */
lw_limit_t lw_memlimit_choose(const lw_limit_readings_t *in);

/* How a source is named in the log ("--reload-on-rss", "cgroup"); a static string. */
const char *lw_memlimit_source_name(lw_limit_source_t source);

/*
 * A robust growth rate: the Theil-Sen slope (median of pairwise slopes) of
 * y over x, in y units per x unit. n points, n <= 64; returns 0 for n < 2.
 */
double lw_trend_slope(const double *x, const double *y, size_t n);

/*
 * Seconds until `used` reaches `limit` at `rate` bytes per second; 0 when
 * there is no limit or no growth, 1 when already at or over it.
 */
uint64_t lw_oom_eta(uint64_t used, uint64_t limit, double rate);

#endif

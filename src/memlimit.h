/*
 * memlimit.h - the memory limit a worker will meet, and when.
 *
 * Limits, in the order leakwatch takes them: --leakwatch-memory-limit, then
 * uWSGI's --reload-on-rss / --evil-reload-on-rss (per worker), then the
 * cgroup (v2 memory.max, v1 memory.limit_in_bytes; shared by every worker
 * of the container). Parsing reads from a directory the caller names, so
 * tests use fixture trees.
 */
#ifndef LW_MEMLIMIT_H
#define LW_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* v1's "no limit" is a huge page-aligned number; anything above is "none". */
#define LW_CGROUP_UNLIMITED (UINT64_C(1) << 62)

/*
 * Reads the cgroup memory limit below `root` (normally "/sys/fs/cgroup"):
 * v2 `memory.max` first, then v1 `memory/memory.limit_in_bytes` and
 * `memory.limit_in_bytes`. Returns 0 and *limit (0 = no limit, "max" or
 * unlimited); -ENOENT when no file exists; -EINVAL when one is malformed.
 */
int lw_cgroup_limit(const char *root, uint64_t *limit);

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

#define _POSIX_C_SOURCE 200809L
#include "memlimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"

/* Reads a one-line file: "max" (0) or a byte count. -ENOENT / -EINVAL. */
static int read_limit(const char *path, uint64_t *limit)
{
    char buf[64];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -ENOENT;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!strcmp(buf, "max")) {
        *limit = 0;
        return 0;
    }
    if (lw_count_parse(buf, 0, UINT64_MAX, limit, NULL) < 0)
        return -EINVAL;
    if (*limit >= LW_CGROUP_UNLIMITED)
        *limit = 0;
    return 0;
}

int lw_cgroup_limit(const char *root, uint64_t *limit)
{
    static const char *const files[] = {"memory.max", "memory/memory.limit_in_bytes",
                                        "memory.limit_in_bytes"};
    char path[4096];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int rc;
        snprintf(path, sizeof(path), "%s/%s", root, files[i]);
        rc = read_limit(path, limit);
        if (rc != -ENOENT)
            return rc;
    }
    return -ENOENT;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lw_trend_slope(const double *x, const double *y, size_t n)
{
    double slopes[64 * 63 / 2];
    size_t m = 0;

    if (n < 2)
        return 0.0;
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (x[j] != x[i])
                slopes[m++] = (y[j] - y[i]) / (x[j] - x[i]);
        }
    }
    if (m == 0)
        return 0.0;
    qsort(slopes, m, sizeof(double), cmp_double);
    return m % 2 ? slopes[m / 2] : (slopes[m / 2 - 1] + slopes[m / 2]) / 2.0;
}

uint64_t lw_oom_eta(uint64_t used, uint64_t limit, double rate)
{
    double eta;

    if (limit == 0 || rate <= 0.0)
        return 0;
    if (used >= limit)
        return 1;
    eta = (double)(limit - used) / rate;
    if (eta < 1.0)
        return 1;
    return eta > 1e12 ? 0 : (uint64_t)eta;
}

#define _POSIX_C_SOURCE 200809L
#include "memlimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "size.h"

/* Reads a one-line file: "max" (0) or a byte count. -ENOENT / -EINVAL. */
static int read_limit(const char *path, uint64_t *limit)
{
    char buf[64];
    FILE *f = fopen(path, "re");
    size_t n;
    uint64_t v;

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
    if (lw_count_parse(buf, 0, UINT64_MAX, &v, NULL) < 0)
        return -EINVAL;
    *limit = v >= LW_CGROUP_UNLIMITED ? 0 : v;
    return 0;
}

int lw_cgroup_limit(const char *dir, uint64_t *limit)
{
    static const char *const files[] = {"memory.max", "memory.limit_in_bytes"};
    char path[LW_CGROUP_PATH_MAX + 32];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int rc;
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        rc = read_limit(path, limit);
        if (rc != -ENOENT)
            return rc;
    }
    return -ENOENT;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the comma-separated `list` (len bytes) names `word`. */
static int names(const char *list, size_t len, const char *word)
{
    size_t wlen = strlen(word);

    for (const char *p = list, *end = list + len; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (n == wlen && !memcmp(p, word, n))
            return 1;
        p += n + 1;
    }
    return 0;
}

/*
 * The memory cgroup's path in /proc/self/cgroup's text ("ID:CONTROLLERS:PATH"
 * lines): into path (NUL-terminated, at most len bytes) with *v1 set.
 * Returns 0, or -ENOENT when no line names one ("" then).
 */
static int memory_path(const char *text, char *path, size_t len, int *v1)
{
    int found = -ENOENT;

    path[0] = '\0';
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        const char *c1 = memchr(line, ':', n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
        size_t plen = c2 ? n - (size_t)(c2 + 1 - line) : 0;
        int is_v1 = c2 && names(c1 + 1, (size_t)(c2 - c1 - 1), "memory");
        int is_v2 = c2 && c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
        /* a v1 memory line wins; the v2 line counts only until one is seen */
        if (c2 && c2[1] == '/' && plen < len && (is_v1 || (is_v2 && !(found == 0 && *v1)))) {
            memcpy(path, c2 + 1, plen);
            path[plen] = '\0';
            *v1 = is_v1;
            found = 0;
        }
        line += n + (line[n] == '\n');
    }
    return found;
}

/* The smallest limit from dir up to its ancestor base (a prefix of dir). */
static int effective_limit(char *dir, size_t base_len, uint64_t *limit)
{
    int rc = -ENOENT;

    *limit = 0;
    for (;;) {
        uint64_t here;
        int r = lw_cgroup_limit(dir, &here);
        if (r == -EINVAL)
            return r;
        if (r == 0) {
            rc = 0;
            if (here && (!*limit || here < *limit))
                *limit = here;
        }
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= base_len || !slash || (size_t)(slash - dir) < base_len)
            return rc;
        *slash = '\0';
    }
}

int lw_cgroup_find(const char *self_cgroup, const char *root, lw_cgroup_t *cg)
{
    char rel[LW_CGROUP_PATH_MAX], base[LW_CGROUP_PATH_MAX], walk[LW_CGROUP_PATH_MAX];
    int v1 = 0, n;
    size_t base_len;

    if (memory_path(self_cgroup, rel, sizeof(rel), &v1) < 0 || strstr(rel, "/..") ||
        !strcmp(rel, "/"))
        rel[0] = '\0'; /* the hierarchy's root */
    n = snprintf(base, sizeof(base), "%s%s", root, v1 ? "/memory" : "");
    if (n < 0 || (size_t)n >= sizeof(base))
        return -ENAMETOOLONG;
    if (v1 && !is_dir(base))
        base[strlen(root)] = '\0'; /* v1 mounted at root itself */
    base_len = strlen(base);
    n = snprintf(cg->dir, sizeof(cg->dir), "%s%s", base, rel);
    if (n < 0 || (size_t)n >= sizeof(cg->dir))
        return -ENAMETOOLONG;
    if (!is_dir(cg->dir))
        cg->dir[base_len] = '\0';
    n = snprintf(cg->events, sizeof(cg->events), "%s/%s", cg->dir,
                 v1 ? "memory.oom_control" : "memory.events");
    if (n < 0 || (size_t)n >= sizeof(cg->events))
        return -ENAMETOOLONG;
    memcpy(walk, cg->dir, strlen(cg->dir) + 1);
    return effective_limit(walk, base_len, &cg->limit);
}

int lw_cgroup_oom_kills(const char *text, uint64_t *kills)
{
    static const char key[] = "oom_kill ";
    char count[32];

    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        if (n >= sizeof(key) - 1 && !memcmp(line, key, sizeof(key) - 1)) {
            size_t len = n - (sizeof(key) - 1);
            if (len >= sizeof(count))
                return -EINVAL;
            memcpy(count, line + sizeof(key) - 1, len);
            count[len] = '\0';
            return lw_count_parse(count, 0, UINT64_MAX, kills, NULL) < 0 ? -EINVAL : 0;
        }
        line += n + (line[n] == '\n');
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

lw_limit_t lw_memlimit_choose(const lw_limit_readings_t *in)
{
    lw_limit_t l = {0, false, LW_LIMIT_NONE};

    if (in->off)
        return l;
    if (in->option)
        l = (lw_limit_t){in->option, false, LW_LIMIT_FROM_OPTION};
    else if (in->reload_on_rss)
        l = (lw_limit_t){in->reload_on_rss, false, LW_LIMIT_FROM_RELOAD_ON_RSS};
    else if (in->evil_reload_on_rss)
        l = (lw_limit_t){in->evil_reload_on_rss, false, LW_LIMIT_FROM_EVIL_RELOAD_ON_RSS};
    else if (in->cgroup)
        l = (lw_limit_t){in->cgroup, true, LW_LIMIT_FROM_CGROUP};
    return l;
}

const char *lw_memlimit_source_name(lw_limit_source_t source)
{
    switch (source) {
    case LW_LIMIT_FROM_OPTION:
        return "--leakwatch-memory-limit";
    case LW_LIMIT_FROM_RELOAD_ON_RSS:
        return "--reload-on-rss";
    case LW_LIMIT_FROM_EVIL_RELOAD_ON_RSS:
        return "--evil-reload-on-rss";
    case LW_LIMIT_FROM_CGROUP:
        return "cgroup";
    default:
        return "none";
    }
}

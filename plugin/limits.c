/*
 * limits.c - reads what src/memlimit.c chooses from: uWSGI's limits, its
 * own cgroup (named by /proc/self/cgroup; uWSGI on a host usually runs in
 * a nested one, a systemd service with MemoryMax=), and that cgroup's OOM
 * kills.
 */
#include <uwsgi.h>

#include "../src/size.h"
#include "limits.h"
#include "threads.h"

#define LW_SELF_CGROUP_MAX 16384 /* /proc/self/cgroup: a line per v1 hierarchy */
#define LW_OOM_EVENTS_MAX 1024

extern struct uwsgi_server uwsgi;

/* Written in init, before any thread; read-only after. */
static lw_cgroup_t cgroup;
static int cgroup_found;
static lw_limit_t limit;

/* The master's own memory cgroup (its workers' too); without one readable,
 * the hierarchy's root stands in. */
static void lw_find_cgroup(void)
{
    static char self[LW_SELF_CGROUP_MAX];
    int rc;

    if (lw_read_text("/proc/self/cgroup", self, sizeof(self)) < 0)
        self[0] = '\0';
    rc = lw_cgroup_find(self, "/sys/fs/cgroup", &cgroup);
    cgroup_found = rc == 0 || rc == -ENOENT; /* -ENOENT: no limit, its OOM kills still count */
}

const lw_limit_t *lw_limits_detect(const lw_config_t *cfg)
{
    lw_limit_readings_t in = {
        .off = cfg->limit_mode == LW_LIMIT_OFF,
        .option = cfg->limit_mode == LW_LIMIT_SET ? cfg->memory_limit : 0,
        .reload_on_rss = uwsgi.reload_on_rss,
        .evil_reload_on_rss = uwsgi.evil_reload_on_rss,
    };
    char size[32];

    lw_find_cgroup();
    in.cgroup = cgroup_found ? cgroup.limit : 0;
    limit = lw_memlimit_choose(&in);
    if (in.off)
        return &limit;
    if (limit.source == LW_LIMIT_FROM_CGROUP)
        uwsgi_log("[leakwatch]   memory limit %s (cgroup %s, shared by all workers)\n",
                  lw_size_format(limit.bytes, size, sizeof(size)), cgroup.dir);
    else if (limit.bytes)
        uwsgi_log("[leakwatch]   memory limit %s (%s)\n",
                  lw_size_format(limit.bytes, size, sizeof(size)),
                  lw_memlimit_source_name(limit.source));
    else
        uwsgi_log("[leakwatch]   no memory limit found: no OOM projection\n");
    return &limit;
}

uint64_t lw_limits_oom_kills(void)
{
    char text[LW_OOM_EVENTS_MAX];
    uint64_t n = 0;

    if (!cgroup_found || lw_read_text(cgroup.events, text, sizeof(text)) < 0 ||
        lw_cgroup_oom_kills(text, &n) < 0)
        return 0;
    return n;
}

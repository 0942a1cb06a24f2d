/*
 * limits.h - the memory limit the workers meet and the OOM kills of their
 * cgroup, read in the master (src/memlimit.h decides; this gathers).
 */
#ifndef LW_LIMITS_H
#define LW_LIMITS_H

#include <stdint.h>

#include "../src/config.h"
#include "../src/memlimit.h"

/* In init (master, before fork): finds uWSGI's cgroup, chooses the limit
 * and logs it. The result is read-only afterwards. */
const lw_limit_t *lw_limits_detect(const lw_config_t *cfg);

/* The cgroup's OOM-kill count (v2 memory.events, v1 memory.oom_control), or 0. */
uint64_t lw_limits_oom_kills(void);

#endif

/*
 * endcause.h - why a worker generation ended, as far as the master can tell.
 *
 * The master learns of an end afterwards, when the successor's HELLO
 * reaches it, and uWSGI tells plugins nothing about why. What it has then
 * are readings, which the caller gathers: the cgroup's OOM-kill count, the
 * generation's highest RSS (uWSGI records one after each request when an
 * RSS limit is set) and its last /proc reading with the trend at that
 * reading, uWSGI's limits, and the requests the generation served. The
 * first rule that holds names the cause:
 *
 *   1. the cgroup's OOM-kill count rose           -> the kernel's OOM killer
 *   2. an RSS limit is set and the generation's highest RSS, or its last
 *      reading carried on by its trend, came within 10% of it
 *                                                 -> --reload-on-rss /
 *                                                    --evil-reload-on-rss
 *   3. --max-requests is set and the generation served about that many
 *                                                 -> --max-requests
 *   4. otherwise: a signal, a crash or a reload; uWSGI's own log says which.
 *
 * The requests served come from the worker's slot, whose count is
 * cumulative over the slot's life, so a generation's share is the count at
 * its end minus the count at its start. A read of the slot can fail
 * (lw_shm_read's -EAGAIN: the successor was claiming it), and then neither
 * this generation's share nor the next one's start is known; rule 3 is
 * not applied to a share that is not known.
 */
#ifndef LW_ENDCAUSE_H
#define LW_ENDCAUSE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum lw_endcause {
    LW_END_GONE = 0,          /* a signal, a crash or a reload */
    LW_END_OOM_KILLED,        /* the kernel's OOM killer */
    LW_END_RELOAD_ON_RSS,     /* uWSGI's --reload-on-rss */
    LW_END_EVIL_RELOAD_ON_RSS, /* uWSGI's --evil-reload-on-rss */
    LW_END_MAX_REQUESTS,      /* uWSGI's --max-requests */
} lw_endcause_t;

/* A slot's request count at the start of its current generation. */
typedef struct lw_endcause_start {
    uint64_t requests;        /* the slot's cumulative count then */
    bool unknown;             /* the read that would have given it failed */
} lw_endcause_start_t;        /* zeroed: the first generation, from 0 */

/* What the master read about a generation that ended. */
typedef struct lw_endcause_readings {
    uint64_t oom_kills_seen;  /* the cgroup's OOM-kill count already explained */
    uint64_t oom_kills;       /* and now */
    uint64_t rss_high;        /* bytes, the generation's highest per-request RSS; 0 unknown */
    uint64_t rss_last;        /* bytes, its last /proc reading; 0 none */
    double rss_rate;          /* bytes per second, its RSS trend at that reading */
    uint64_t reload_on_rss;   /* bytes, uWSGI's limits; 0 when not set */
    uint64_t evil_reload_on_rss;
    uint64_t max_requests;    /* uWSGI's --max-requests; 0 when not set */
    bool served_known;        /* served below is known (lw_endcause_served) */
    uint64_t served;          /* requests the generation served */
} lw_endcause_readings_t;

/*
 * The requests a generation served, from reading its slot at its end: `rc`
 * is lw_shm_read's result and `requests` the slot's count when rc is 0
 * (ignored otherwise). Returns true and *served when known; false when
 * the read failed or the start was unknown (*served is 0 then). Either way
 * *start becomes the next generation's: this read's count, or unknown.
 */
bool lw_endcause_served(lw_endcause_start_t *start, int rc, uint64_t requests,
                        uint64_t *served);

/* The cause the rules above name. Cannot fail: LW_END_GONE when none holds. */
lw_endcause_t lw_endcause_judge(const lw_endcause_readings_t *r);

/* The cause as LAST WORDS says it ("recycled by --max-requests"); a static string. */
const char *lw_endcause_text(lw_endcause_t cause);

#endif

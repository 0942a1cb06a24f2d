#include "endcause.h"

#include <stddef.h>

/*
 * Within 10% of an RSS limit counts as reaching it: uWSGI compares its own
 * reading, taken after a request, with the limit, and the master's
 * readings of the same RSS are late and coarser.
 */
#define RSS_NEAR_PERCENT 90
/* The /proc reading is up to a second old (the analyst takes one a second):
 * carried on by its trend this much further. */
#define RSS_LOOKAHEAD_SECONDS 1.5
/*
 * The end is seen when the successor's HELLO arrives, which comes with the
 * successor's first request: the slot's count then holds it, so a
 * generation's share can be short by a request or two at its start.
 */
#define MAX_REQUESTS_SLACK 2

bool lw_endcause_served(lw_endcause_start_t *start, int rc, uint64_t requests,
                        uint64_t *served)
{
    bool known = rc == 0 && !start->unknown && requests >= start->requests;

    *served = known ? requests - start->requests : 0;
    start->unknown = rc != 0;
    if (rc == 0)
        start->requests = requests;
    return known;
}

/* Whether `rss` bytes is within RSS_NEAR_PERCENT of `limit`. */
static bool near(double rss, uint64_t limit)
{
    return rss * 100.0 >= (double)limit * RSS_NEAR_PERCENT;
}

lw_endcause_t lw_endcause_judge(const lw_endcause_readings_t *r)
{
    uint64_t rss_limit = r->reload_on_rss ? r->reload_on_rss : r->evil_reload_on_rss;

    if (r->oom_kills > r->oom_kills_seen)
        return LW_END_OOM_KILLED;
    if (rss_limit &&
        ((r->rss_high && near((double)r->rss_high, rss_limit)) ||
         (r->rss_last &&
          near((double)r->rss_last + r->rss_rate * RSS_LOOKAHEAD_SECONDS, rss_limit))))
        return r->reload_on_rss ? LW_END_RELOAD_ON_RSS : LW_END_EVIL_RELOAD_ON_RSS;
    if (r->max_requests && r->served_known && r->served + MAX_REQUESTS_SLACK >= r->max_requests)
        return LW_END_MAX_REQUESTS;
    return LW_END_GONE;
}

const char *lw_endcause_text(lw_endcause_t cause)
{
    static const char *const texts[] = {
        [LW_END_GONE] = "gone: a signal, a crash or a reload (uWSGI's log says which)",
        [LW_END_OOM_KILLED] = "killed by the kernel's OOM killer",
        [LW_END_RELOAD_ON_RSS] = "recycled by --reload-on-rss",
        [LW_END_EVIL_RELOAD_ON_RSS] = "killed by --evil-reload-on-rss",
        [LW_END_MAX_REQUESTS] = "recycled by --max-requests",
    };

    if ((size_t)cause >= sizeof(texts) / sizeof(texts[0]))
        return texts[LW_END_GONE];
    return texts[cause];
}

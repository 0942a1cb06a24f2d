/*
 * gcpolicy.c - when a worker collects cyclic garbage (see gcpolicy.h).
 */
#include "gcpolicy.h"

bool lw_gcpolicy_due(const lw_gcpolicy_t *p, const lw_config_t *cfg, uint64_t requests,
                     int64_t tracked)
{
    switch (cfg->gc) {
    case LW_GC_EVERY:
        return cfg->gc_every > 0 && requests % cfg->gc_every == 0;
    case LW_GC_AUTO:
        return tracked - p->tracked_at >= (int64_t)(cfg->threshold / 2) &&
               requests - p->requests_at >= LW_GC_AUTO_MIN_REQUESTS;
    case LW_GC_OFF:
        break;
    }
    return false;
}

void lw_gcpolicy_collected(lw_gcpolicy_t *p, uint64_t requests, int64_t tracked)
{
    p->tracked_at = tracked;
    p->requests_at = requests;
}

/*
 * gcpolicy.h - when a worker collects cyclic garbage on leakwatch's behalf.
 *
 * Garbage awaiting Python's collector must not look like growth to the
 * detector. --leakwatch-gc auto (the default) collects whenever the
 * worker's tracked bytes have grown by half the threshold since its last
 * collection, and at most once per LW_GC_AUTO_MIN_REQUESTS requests: growth
 * costs a collection, a flat app never pays one. --leakwatch-gc N collects
 * every N requests; off never does. A pure function of its inputs: the
 * worker's engine asks it after every request, the detector's model
 * (tests/eval/model.c) asks it for each modelled worker.
 */
#ifndef LW_GCPOLICY_H
#define LW_GCPOLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define LW_GC_AUTO_MIN_REQUESTS 16

typedef struct lw_gcpolicy {
    int64_t tracked_at;     /* tracked bytes after the last collection */
    uint64_t requests_at;   /* requests served at the last collection */
} lw_gcpolicy_t;

/* Whether to collect now, `requests` served and `tracked` bytes tracked. */
bool lw_gcpolicy_due(const lw_gcpolicy_t *p, const lw_config_t *cfg, uint64_t requests,
                     int64_t tracked);

/* Says a collection was made, leaving `tracked` bytes after `requests`. */
void lw_gcpolicy_collected(lw_gcpolicy_t *p, uint64_t requests, int64_t tracked);

#endif

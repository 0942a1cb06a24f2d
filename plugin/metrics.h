/*
 * metrics.h - leakwatch's values in uWSGI's metrics subsystem (the stats
 * server's "metrics", and every pusher that reads it).
 *
 * uWSGI cannot add metrics once it has set them up, so the whole fixed set
 * is registered in init. uWSGI's metrics thread reads each value through
 * its pointer ("ptr" collector); the analyst thread writes them once a
 * second. Aligned int64 fields: a read is never torn.
 */
#ifndef LW_METRICS_H
#define LW_METRICS_H

#include <stdint.h>

#include "../src/procs.h"

/* One worker's (mule's, spooler's) gauges. Units: bytes, bytes per minute, seconds. */
typedef struct lw_worker_metrics {
    int64_t tracked_bytes;
    int64_t growth_rate;
    int64_t oom_eta;          /* 0: no projection */
    int64_t malloc_free_bytes; /* what its malloc holds free (native.h), 0: unknown */
} lw_worker_metrics_t;

typedef struct lw_metrics {
    int64_t alerts, suspects, tracked_bytes, samples, lost;
    lw_worker_metrics_t *worker; /* [slots + 1], by slot (procs.h); [0] unused */
} lw_metrics_t;

/* In init (master): registers every metric and turns the subsystem on.
 * Exits uWSGI (uwsgi_calloc) when memory runs out. */
lw_metrics_t *lw_metrics_register(const lw_procs_t *procs);

#endif

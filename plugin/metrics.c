/* metrics.c - registers leakwatch's metrics with uWSGI (see metrics.h). */
#include <uwsgi.h>

#include "metrics.h"

extern struct uwsgi_server uwsgi;

static lw_metrics_t metrics;

static void lw_metric(const char *name, uint8_t type, int64_t *value)
{
    uwsgi_register_metric((char *)name, NULL, type, "ptr", value, 0, NULL);
}

lw_metrics_t *lw_metrics_register(const lw_procs_t *procs)
{
    uint32_t nslots = lw_procs_count(procs);
    char name[128];

    /* leakwatch turns the subsystem on itself, no extra option needed */
    uwsgi.has_metrics = 1;
    metrics.worker = uwsgi_calloc(sizeof(lw_worker_metrics_t) * (nslots + 1));
    lw_metric("leakwatch.alerts", UWSGI_METRIC_COUNTER, &metrics.alerts);
    lw_metric("leakwatch.suspects", UWSGI_METRIC_GAUGE, &metrics.suspects);
    lw_metric("leakwatch.tracked_bytes", UWSGI_METRIC_GAUGE, &metrics.tracked_bytes);
    lw_metric("leakwatch.samples", UWSGI_METRIC_COUNTER, &metrics.samples);
    lw_metric("leakwatch.lost", UWSGI_METRIC_COUNTER, &metrics.lost);
    for (uint32_t slot = 1; slot <= nslots; slot++) {
        lw_worker_metrics_t *m = &metrics.worker[slot];
        lw_proc_t p = lw_procs_of(procs, slot); /* leakwatch.worker.1, leakwatch.mule.1 */
        const char *kind = lw_proc_kind_name(p.kind);
        snprintf(name, sizeof(name), "leakwatch.%s.%u.tracked_bytes", kind, p.number);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->tracked_bytes);
        snprintf(name, sizeof(name), "leakwatch.%s.%u.growth_rate", kind, p.number);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->growth_rate);
        snprintf(name, sizeof(name), "leakwatch.%s.%u.oom_eta", kind, p.number);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->oom_eta);
        snprintf(name, sizeof(name), "leakwatch.%s.%u.malloc_free_bytes", kind, p.number);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->malloc_free_bytes);
    }
    return &metrics;
}

/* metrics.c - registers leakwatch's metrics with uWSGI (see metrics.h). */
#include <uwsgi.h>

#include "metrics.h"

extern struct uwsgi_server uwsgi;

static lw_metrics_t metrics;

static void lw_metric(const char *name, uint8_t type, int64_t *value)
{
    uwsgi_register_metric((char *)name, NULL, type, "ptr", value, 0, NULL);
}

lw_metrics_t *lw_metrics_register(uint32_t nworkers)
{
    char name[128];

    /* leakwatch turns the subsystem on itself, no extra option needed */
    uwsgi.has_metrics = 1;
    metrics.worker = uwsgi_calloc(sizeof(lw_worker_metrics_t) * (nworkers + 1));
    lw_metric("leakwatch.alerts", UWSGI_METRIC_COUNTER, &metrics.alerts);
    lw_metric("leakwatch.suspects", UWSGI_METRIC_GAUGE, &metrics.suspects);
    lw_metric("leakwatch.tracked_bytes", UWSGI_METRIC_GAUGE, &metrics.tracked_bytes);
    lw_metric("leakwatch.samples", UWSGI_METRIC_COUNTER, &metrics.samples);
    lw_metric("leakwatch.lost", UWSGI_METRIC_COUNTER, &metrics.lost);
    for (uint32_t w = 1; w <= nworkers; w++) {
        lw_worker_metrics_t *m = &metrics.worker[w];
        snprintf(name, sizeof(name), "leakwatch.worker.%u.tracked_bytes", w);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->tracked_bytes);
        snprintf(name, sizeof(name), "leakwatch.worker.%u.growth_rate", w);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->growth_rate);
        snprintf(name, sizeof(name), "leakwatch.worker.%u.oom_eta", w);
        lw_metric(name, UWSGI_METRIC_GAUGE, &m->oom_eta);
    }
    return &metrics;
}

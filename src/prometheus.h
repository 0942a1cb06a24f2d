/*
 * prometheus.h - the master's view in Prometheus text exposition format (0.0.4).
 *
 * The uWSGI exporters most fleets scrape read the stats server's workers,
 * cores and apps, not its "metrics" section, so leakwatch serves its own
 * /metrics. Base units (bytes, seconds), HELP and TYPE for every family,
 * labels instead of ids in names (a site: file, line, function and
 * via_libraries, as in the report). Cardinality stays bounded: sites are the
 * top_sites largest by live bytes, workers and alert kinds are few.
 *
 * Label values come from code objects and request paths, so they are
 * escaped as the format asks: backslash, double quote and line feed.
 */
#ifndef LW_PROMETHEUS_H
#define LW_PROMETHEUS_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "alertlog.h"
#include "report.h"

typedef struct lw_prometheus_input {
    const lw_report_worker_t *workers;
    size_t nworkers;
    const lw_agg_t *agg;     /* may be NULL: no sites yet */
    uint32_t top_sites;      /* site series at most (the cardinality bound) */
    const lw_alert_count_t *kinds;
    size_t nkinds;
    uint64_t samples;        /* allocations sampled, all workers, since start */
    uint64_t lost;           /* samples that could not be recorded */
} lw_prometheus_input_t;

/*
 * Renders the exposition into memory from `alloc`. Returns the text
 * (NUL-terminated, *len bytes) that the caller releases with alloc->free,
 * or NULL when memory runs out (nothing leaked).
 */
char *lw_prometheus_render(const lw_prometheus_input_t *in, const lw_alloc_t *alloc, size_t *len);

/*
 * Writes `value` into out (outlen > 0, always NUL-terminated) as a label
 * value: backslash, double quote and line feed escaped, cut when out is too
 * small, never inside an escape nor inside a UTF-8 character (the value
 * stays valid UTF-8 if it was). Returns the length written; it cannot fail.
 */
size_t lw_prometheus_escape(const char *value, char *out, size_t outlen);

#endif

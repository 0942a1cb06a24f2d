/*
 * report.h - the JSON report: what the master knows, as one document.
 *
 * Rendering only: the caller gathers a snapshot (settings, workers, the
 * aggregator's sites, recent alerts) and gets a string back. jansson does
 * the JSON (escaping included); leakwatch never changes jansson's
 * allocator, which uWSGI shares.
 */
#ifndef LW_REPORT_H
#define LW_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "config.h"

#define LW_REPORT_SITES_MAX 100  /* the largest sites, by live bytes */
#define LW_REPORT_SUM_LINES 10   /* lines a sum lists, most grown first */

typedef struct lw_report_worker {
    uint32_t id;
    int64_t pid;
    uint64_t requests;
    int64_t rss;          /* bytes, 0 if unknown */
    int64_t tracked;      /* bytes */
    int64_t growth_rate;  /* bytes per minute */
    int64_t oom_eta;      /* seconds, 0 if none */
    int64_t malloc_free;  /* bytes its malloc holds free, 0 if unknown */
} lw_report_worker_t;

/* The process of row `id` (a slot of the agg's, procs.h); without an agg,
 * a worker of that id. */
static inline lw_proc_t lw_report_proc(const lw_agg_t *agg, uint32_t id)
{
    return agg ? lw_procs_of(&lw_agg_config(agg)->procs, id) : (lw_proc_t){LW_PROC_WORKER, id};
}

typedef struct lw_report_alert {
    int64_t time;         /* unix seconds */
    const char *kind;     /* "LEAK", ... */
    const char *text;     /* the alert's first line */
} lw_report_alert_t;

typedef struct lw_report_input {
    const char *version;
    const lw_config_t *cfg;
    const lw_report_worker_t *workers;
    size_t nworkers;
    const lw_agg_t *agg;  /* may be NULL: no sites yet */
    const lw_report_alert_t *alerts;
    size_t nalerts;
} lw_report_input_t;

/*
 * Renders the report. Returns a NUL-terminated string the caller releases
 * with lw_report_free(), or NULL when memory runs out (nothing leaked).
 */
char *lw_report_render(const lw_report_input_t *in);

/* Releases a rendered report with jansson's own deallocator, whatever it is. */
void lw_report_free(char *text);

#endif

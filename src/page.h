/*
 * page.h - the master's view as one self-contained HTML page (GET / on
 * --leakwatch-http): workers with RSS and the time to their memory limit,
 * the top growing sites each with a chart of its live bytes over time,
 * its traceback, workers and endpoints, and the alert history.
 *
 * No external assets and no JavaScript: inline CSS and SVG, and a meta
 * refresh. Everything that comes from the app (file and function names,
 * request paths, alert text) is HTML-escaped. The size is bounded:
 * max_sites cards of bounded content, at most LW_SITEHIST_FRAMES points per
 * chart, the alert history the caller keeps.
 */
#ifndef LW_PAGE_H
#define LW_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "config.h"
#include "sitehist.h"
#include "report.h"

typedef struct lw_page_input {
    const char *version;
    const lw_config_t *cfg;
    uint64_t mem_limit;        /* bytes, 0 = none known */
    bool limit_shared;         /* a cgroup limit: all workers together */
    const lw_report_worker_t *workers;
    size_t nworkers;
    const lw_agg_t *agg;       /* may be NULL: no sites yet */
    const lw_sitehist_t *hist;     /* may be NULL: no charts */
    int64_t hist_now;          /* now, in the history's clock (seconds) */
    const lw_report_alert_t *alerts; /* oldest first */
    size_t nalerts;
    uint64_t samples, lost;
    uint32_t max_sites;        /* site cards at most */
    uint32_t refresh;          /* seconds between the page's reloads */
} lw_page_input_t;

/*
 * The sites the page shows, in its order: those judged suspect or leaking
 * (largest first), then the largest of the rest; up to max ids into out.
 * The caller keeps the history of the same sites. Returns the count.
 */
size_t lw_page_pick_sites(const lw_agg_t *agg, uint32_t *out, size_t max);

/*
 * Renders the page into memory from `alloc`: returns the text
 * (NUL-terminated, *len bytes) that the caller releases with alloc->free,
 * or NULL when memory runs out (nothing leaked).
 */
char *lw_page_render(const lw_page_input_t *in, const lw_alloc_t *alloc, size_t *len);

#endif

/*
 * view.h - what the analyst keeps and the listeners render: pointers to the
 * analyst's state, set once it exists. Read under the analyst's view lock
 * (analyst.c takes it around lw_view_render).
 */
#ifndef LW_VIEW_H
#define LW_VIEW_H

#include "../src/agg.h"
#include "../src/alertlog.h"
#include "../src/sitehist.h"
#include "../src/oomwatch.h"
#include "../src/memlimit.h"
#include "../src/shm.h"
#include "metrics.h"

/* What a listener can ask for. */
typedef enum lw_render {
    LW_RENDER_REPORT,      /* the JSON report */
    LW_RENDER_PAGE,        /* the HTML page */
    LW_RENDER_PROMETHEUS,  /* the /metrics exposition */
} lw_render_t;

typedef struct lw_rendered {
    char *text;            /* len bytes, NUL-terminated */
    size_t len;
    lw_render_t what;
} lw_rendered_t;


typedef struct lw_view {
    const lw_config_t *cfg;
    lw_shm_t *shm;
    const lw_limit_t *limit;
    const lw_metrics_t *metrics;
    const lw_agg_t *agg;          /* NULL: no analyst, nothing to render */
    const lw_sitehist_t *hist;        /* NULL: no charts */
    const lw_alertlog_t *alerts;
    const lw_oomwatch_t *oom;
} lw_view_t;

/* Renders `what` (the lock held by the caller). 0, or -ENOMEM (nothing to release). */
int lw_view_render(const lw_view_t *v, lw_render_t what, lw_rendered_t *out);

/* Releases what lw_view_render gave. */
void lw_view_release(lw_rendered_t *doc);

#endif

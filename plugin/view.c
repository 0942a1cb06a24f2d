/*
 * view.c - what the listeners serve, rendered from the analyst's view
 * (view.h): the JSON report (src/report.c), the page (src/page.c) and the
 * Prometheus exposition (src/prometheus.c), with the live workers' records.
 */
#include <uwsgi.h>

#include "../src/prometheus.h"
#include "../src/page.h"
#include "../src/report.h"
#include "threads.h"
#include "view.h"

#define LW_PAGE_SITES 12       /* site cards on the page (/ on --leakwatch-http) */
#define LW_PAGE_REFRESH 5      /* seconds between the page's reloads */

extern struct uwsgi_server uwsgi;

static const lw_alloc_t heap = {calloc, free};

/*
 * The live workers as the report, the page and /metrics show them (view_lock
 * held): an array from the heap, one record per worker slot at most, that
 * the caller frees; *n says how many are filled. Sized by the real worker
 * count: a record for each of the 8,192 workers shm allows (460 KB) on a
 * listener's stack crashed the master where threads get small stacks
 * (musl: 128 KiB; glibc takes RLIMIT_STACK). Returns NULL when memory runs
 * out.
 */
static lw_report_worker_t *lw_view_workers(const lw_view_t *v, size_t *n)
{
    lw_report_worker_t *workers = calloc(v->shm->nslots, sizeof(*workers));
    size_t nw = 0;

    *n = 0;
    if (!workers)
        return NULL;
    for (uint32_t wid = 1; wid <= v->shm->nslots; wid++) {
        lw_worker_view_t view;
        /* uWSGI fills rss_size for workers only */
        uint64_t rss = wid <= lw_agg_config(v->agg)->procs.workers ? uwsgi.workers[wid].rss_size : 0;
        double rate;
        if (lw_shm_read(v->shm, wid, &view) < 0 || view.pid == 0)
            continue;
        /* uWSGI fills rss_size only with an RSS limit or a memory report;
         * the analyst reads /proc once a second for every worker */
        lw_oomwatch_last(v->oom, wid, view.pid, &rss, &rate);
        workers[nw] = (lw_report_worker_t){
            .id = wid, .pid = view.pid, .requests = view.requests, .rss = (int64_t)rss,
            .tracked = v->metrics->worker[wid].tracked_bytes,
            .growth_rate = v->metrics->worker[wid].growth_rate,
            .oom_eta = v->metrics->worker[wid].oom_eta,
            .malloc_free = v->metrics->worker[wid].malloc_free_bytes,
        };
        nw++;
    }
    *n = nw;
    return workers;
}

/* The report (view_lock held). Returns NULL when memory runs out. */
static char *lw_view_report(const lw_view_t *v, size_t *len)
{
    lw_report_alert_t history[LW_ALERTLOG_HISTORY];
    size_t nw, na = lw_alertlog_history(v->alerts, history);
    lw_report_worker_t *workers = lw_view_workers(v, &nw);
    lw_report_input_t in = {UWSGI_VERSION, v->cfg, workers, nw, v->agg, history, na};
    char *doc = workers ? lw_report_render(&in) : NULL;

    free(workers);
    *len = doc ? strlen(doc) : 0;
    return doc;
}

/* The page (GET /), from the current view (view_lock held). */
static char *lw_view_page(const lw_view_t *v, size_t *len)
{
    lw_report_alert_t history[LW_ALERTLOG_HISTORY];
    size_t nw;
    lw_report_worker_t *workers = lw_view_workers(v, &nw);
    lw_page_input_t in = {
        .version = UWSGI_VERSION, .cfg = v->cfg, .mem_limit = v->limit->bytes,
        .limit_shared = v->limit->shared, .workers = workers,
        .nworkers = nw, .agg = v->agg, .hist = v->hist,
        .hist_now = lw_mono_seconds(), .alerts = history,
        .nalerts = lw_alertlog_history(v->alerts, history),
        .samples = (uint64_t)v->metrics->samples, .lost = (uint64_t)v->metrics->lost,
        .max_sites = LW_PAGE_SITES, .refresh = LW_PAGE_REFRESH,
    };
    char *page = workers ? lw_page_render(&in, &heap, len) : NULL;

    free(workers);
    return page;
}

/* /metrics: the exposition, rendered from the current view (view_lock held). */
static char *lw_view_prometheus(const lw_view_t *v, size_t *len)
{
    size_t nw, nkinds;
    lw_report_worker_t *workers = lw_view_workers(v, &nw);
    const lw_alert_count_t *kinds = lw_alertlog_kinds(v->alerts, &nkinds);
    lw_prometheus_input_t in = {workers, nw, v->agg, v->cfg->http_sites, kinds, nkinds,
                          (uint64_t)v->metrics->samples, (uint64_t)v->metrics->lost};
    char *text = workers ? lw_prometheus_render(&in, &heap, len) : NULL;

    free(workers);
    return text;
}

int lw_view_render(const lw_view_t *v, lw_render_t what, lw_rendered_t *out)
{
    static char *(*const render[])(const lw_view_t *v, size_t *len) = {
        [LW_RENDER_REPORT] = lw_view_report,
        [LW_RENDER_PAGE] = lw_view_page,
        [LW_RENDER_PROMETHEUS] = lw_view_prometheus,
    };

    out->what = what;
    out->len = 0;
    out->text = v->agg ? render[what](v, &out->len) : NULL;
    return out->text ? 0 : -ENOMEM;
}

void lw_view_release(lw_rendered_t *doc)
{
    if (doc->what == LW_RENDER_REPORT)
        lw_report_free(doc->text); /* jansson's deallocator */
    else
        heap.free(doc->text);
    doc->text = NULL;
}

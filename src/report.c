#include "report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *gc_name(const lw_config_t *cfg)
{
    switch (cfg->gc) {
    case LW_GC_EVERY:
        return cfg->gc_every == 1 ? "request" : "every";
    case LW_GC_OFF:
        return "off";
    default:
        return "auto";
    }
}

static json_t *settings(const lw_config_t *cfg)
{
    return json_pack("{s:I, s:I, s:b, s:i, s:s, s:i, s:I, s:I, s:s, s:i}", "threshold",
                     (json_int_t)cfg->threshold, "sample_interval",
                     (json_int_t)lw_config_sample_interval(cfg), "exact", cfg->exact, "frames",
                     (int)cfg->frames, "gc", gc_name(cfg), "gc_every", (int)cfg->gc_every,
                     "warmup", (json_int_t)cfg->warmup, "memory_limit",
                     (json_int_t)(cfg->limit_mode == LW_LIMIT_SET ? cfg->memory_limit : 0),
                     "alarm", cfg->alarm, "hold_budget_ms", (int)(cfg->hold_budget_us / 1000));
}

static json_t *workers(const lw_report_input_t *in)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < in->nworkers; i++) {
        const lw_report_worker_t *w = &in->workers[i];
        lw_proc_t p = lw_report_proc(in->agg, w->id);
        json_t *o = json_pack("{s:i, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "id",
                              (int)w->id, "kind", lw_proc_kind_name(p.kind), "number",
                              (int)p.number, "pid", (json_int_t)w->pid, "requests",
                              (json_int_t)w->requests, "rss", (json_int_t)w->rss,
                              "tracked_bytes", (json_int_t)w->tracked, "malloc_free_bytes",
                              (json_int_t)w->malloc_free, "growth_rate",
                              (json_int_t)w->growth_rate, "oom_eta", (json_int_t)w->oom_eta);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Strings come from workers and requests: not UTF-8 becomes "?", never a failure. */
static json_t *str(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("?");
}

/* {key1: str1, key2: int, key3: str3}, with str()'s fallback for bad UTF-8. */
static json_t *triple(const char *k1, const char *v1, const char *k2, json_int_t v2,
                      const char *k3, const char *v3)
{
    json_t *o = json_object();

    if (!o || json_object_set_new(o, k1, str(v1)) < 0 ||
        json_object_set_new(o, k2, json_integer(v2)) < 0 ||
        (k3 && json_object_set_new(o, k3, str(v3)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Attaches a new empty container to o under key; returns it, or NULL. */
static json_t *child(json_t *o, const char *key, json_t *container)
{
    return json_object_set_new(o, key, container) == 0 ? container : NULL;
}

/* A sum's "lines": those that grew most, with the bytes each grew. 0, or -1. */
static int sum_lines(json_t *o, const lw_agg_t *agg, uint32_t id)
{
    lw_agg_line_t lines[LW_REPORT_SUM_LINES];
    uint32_t nlines;
    int64_t total;
    size_t n = lw_agg_lines_of(agg, id, lines, LW_REPORT_SUM_LINES, &nlines, &total);
    json_t *arr = child(o, "lines", json_array());

    if (!arr || json_object_set_new(o, "lines_grown", json_integer(nlines)) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *l = lw_agg_site(agg, lines[i].id);
        json_t *e = triple("file", lw_agg_field(l, 0), "line", l->line, "function",
                           lw_agg_field(l, 1));
        if (!e || json_object_set_new(e, "grown_bytes", json_integer(lines[i].grown)) < 0 ||
            json_object_set_new(e, "via_libraries_bytes", json_integer(lines[i].via)) < 0 ||
            json_array_append_new(arr, e) < 0) {
            json_decref(e);
            return -1;
        }
    }
    return 0;
}

/* One site. On failure NULL, and everything built so far is released with o. */
static json_t *site_json(const lw_report_input_t *in, uint32_t id)
{
    const lw_agg_t *agg = in->agg;
    const lw_agg_site_t *s = lw_agg_site(agg, id);
    json_t *o = json_object();
    json_t *tb = o ? child(o, "traceback", json_array()) : NULL;
    json_t *pw = tb ? child(o, "per_worker_bytes", json_object()) : NULL;
    json_t *eps = pw ? child(o, "top_endpoints", json_array()) : NULL;
    char key[16];
    int bad = !eps;

    bad = bad || json_object_set_new(o, "file", str(lw_agg_field(s, 0))) < 0 ||
          json_object_set_new(o, "line", json_integer(s->line)) < 0 ||
          json_object_set_new(o, "function", str(lw_agg_field(s, 1))) < 0 ||
          json_object_set_new(o, "kind", str(lw_agg_kind_name(s->kind))) < 0 ||
          json_object_set_new(o, "via_libraries", json_boolean(s->rollup)) < 0 ||
          json_object_set_new(o, "live_bytes", json_integer(s->live)) < 0 ||
          json_object_set_new(o, "growth_bytes", json_integer(s->det ? s->verdict.growth : 0)) < 0 ||
          json_object_set_new(o, "growth_requests",
                              json_integer(s->det ? (json_int_t)s->verdict.requests : 0)) < 0 ||
          json_object_set_new(o, "growth_seconds",
                              json_real(s->det ? s->verdict_seconds : 0.0)) < 0 ||
          json_object_set_new(o, "suspect",
                              json_boolean(s->det && s->verdict.kind != LW_VERDICT_NONE)) < 0 ||
          json_object_set_new(o, "alerted", json_boolean(s->det && s->det->alerted_growth)) < 0 ||
          json_object_set_new(o, "held_by", s->held ? str(s->held) : json_null()) < 0;
    if (!bad && s->kind != LW_AGG_LINE)
        bad = sum_lines(o, agg, id);
    for (uint32_t f = 0; !bad && f < s->nframes; f++)
        bad = json_array_append_new(tb, triple("file", lw_agg_field(s, 4 + 3 * f), "line",
                                               atoi(lw_agg_field(s, 5 + 3 * f)), "function",
                                               lw_agg_field(s, 6 + 3 * f))) < 0;
    /* by worker id: a slot that never started leaves a gap in the ids */
    for (size_t i = 0; !bad && i < in->nworkers; i++) {
        uint32_t w = in->workers[i].id;
        snprintf(key, sizeof(key), "%u", w);
        int64_t bytes = lw_agg_share(agg, id, w);
        if (bytes)
            bad = json_object_set_new(pw, key, json_integer(bytes)) < 0;
    }
    uint32_t ep[LW_AGG_TOP_ENDPOINTS];
    int64_t ep_bytes[LW_AGG_TOP_ENDPOINTS];
    size_t nep = lw_agg_endpoints_of(agg, id, ep, ep_bytes);
    for (size_t i = 0; !bad && i < nep; i++)
        bad = json_array_append_new(eps, triple("endpoint", lw_agg_endpoint(agg, ep[i]), "bytes",
                                                ep_bytes[i], NULL, NULL)) < 0;
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The judged sites with the most live bytes, largest first. */
static json_t *sites(const lw_report_input_t *in)
{
    uint32_t best[LW_REPORT_SITES_MAX];
    size_t n = 0;
    json_t *arr = json_array();

    if (in->agg)
        n = lw_agg_top_sites(in->agg, 0, false, best, LW_REPORT_SITES_MAX);
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = site_json(in, best[i]);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *alerts(const lw_report_input_t *in)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < in->nalerts; i++) {
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) < 0 ||
            json_object_set_new(o, "time", json_integer(in->alerts[i].time)) < 0 ||
            json_object_set_new(o, "kind", str(in->alerts[i].kind)) < 0 ||
            json_object_set_new(o, "text", str(in->alerts[i].text)) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

char *lw_report_render(const lw_report_input_t *in)
{
    json_t *doc = json_object();
    char *out = NULL;

    /* the requests served at the analyst's last look: the sites are as of then */
    json_int_t as_of = in->agg ? (json_int_t)lw_workclock_requests(lw_agg_clock(in->agg)) : 0;

    if (doc && json_object_set_new(doc, "version", str(in->version)) == 0 &&
        json_object_set_new(doc, "as_of_requests", json_integer(as_of)) == 0 &&
        json_object_set_new(doc, "settings", settings(in->cfg)) == 0 &&
        json_object_set_new(doc, "workers", workers(in)) == 0 &&
        json_object_set_new(doc, "sites", sites(in)) == 0 &&
        json_object_set_new(doc, "alerts", alerts(in)) == 0)
        out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

void lw_report_free(char *text)
{
    json_free_t release = NULL;

    json_get_alloc_funcs(NULL, &release);
    if (text)
        (release ? release : free)(text);
}

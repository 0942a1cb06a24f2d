#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include "page.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "size.h"
#include "strbuf.h"

#define CHART_W 360
#define CHART_H 90
#define HOT_SHARE 0.8 /* a worker's bar turns red past this share of its limit */
#define PAGE_SUM_LINES 5 /* lines a sum's card lists */

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:12px 16px;max-width:1180px;"
    "color:#1d2329;background:#f6f7f9}"
    "h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 8px}"
    "code{font:12px ui-monospace,monospace;overflow-wrap:anywhere}"
    ".muted{color:#68737d}.lost{color:#b3261e;font-weight:600}"
    "table{border-collapse:collapse;width:100%;background:#fff}"
    "td,th{padding:4px 8px;border-bottom:1px solid #e3e6ea;text-align:right;white-space:nowrap}"
    "td.text,th.text{text-align:left;white-space:normal;overflow-wrap:anywhere}"
    "td.when,th.when{text-align:left}"
    ".bar{display:inline-block;width:90px;height:8px;background:#e3e6ea;vertical-align:middle}"
    ".bar i{display:block;height:8px;background:#3b7dd8}.bar i.hot{background:#b3261e}"
    ".sites{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}"
    ".site{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px;min-width:0}"
    ".site h3{font-size:14px;margin:0 0 6px;overflow-wrap:anywhere}"
    ".badge{display:inline-block;font-size:11px;font-weight:700;padding:1px 6px;border-radius:3px;"
    "margin-right:6px;color:#fff;background:#68737d}.badge.leak{background:#b3261e}"
    ".badge.suspect{background:#c77700}"
    ".chart{width:100%;height:90px;display:block;background:#fbfcfd}"
    ".axis{display:flex;justify-content:space-between;font-size:11px;color:#68737d}"
    "ol{margin:4px 0;padding-left:22px}details{margin-top:6px}";

/* Bytes for humans, sign kept. */
static const char *bytes(int64_t v, char *buf, size_t len)
{
    char plain[24]; /* "1023.9 KiB" and the like */

    lw_size_format((uint64_t)(v < 0 ? -v : v), plain, sizeof(plain));
    snprintf(buf, len, "%s%s", v < 0 ? "-" : "", plain);
    return buf;
}

/* A duration for humans: "45 s", "12 min", "3.5 h", "2.0 d". */
static const char *span(int64_t secs, char *buf, size_t len)
{
    if (secs < 120)
        snprintf(buf, len, "%" PRId64 " s", secs);
    else if (secs < 7200)
        snprintf(buf, len, "%" PRId64 " min", secs / 60);
    else if (secs < 172800)
        snprintf(buf, len, "%.1f h", (double)secs / 3600.0);
    else
        snprintf(buf, len, "%.1f d", (double)secs / 86400.0);
    return buf;
}

static void head(lw_strbuf_t *t, const lw_page_input_t *in)
{
    char a[32], b[32];

    lw_strbuf_put(t,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                "<meta http-equiv=\"refresh\" content=\"%" PRIu32 "\">"
                "<title>leakwatch</title><style>%s</style></head><body>\n",
                in->refresh, style);
    lw_strbuf_put(t, "<h1>leakwatch</h1><p class=\"muted\">uWSGI ");
    lw_strbuf_put_html(t, in->version ? in->version : "?");
    lw_strbuf_put(t, " &middot; threshold %s &middot; sampling 1 in %s &middot; %" PRIu64
                   " samples &middot; ",
                lw_size_format(in->cfg->threshold, a, sizeof(a)),
                lw_size_format(lw_config_sample_interval(in->cfg), b, sizeof(b)), in->samples);
    lw_strbuf_put(t, in->lost ? "<span class=\"lost\">%" PRIu64 " lost</span>" : "%" PRIu64 " lost",
                in->lost);
    lw_strbuf_put(t, " &middot; refreshes every %" PRIu32 " s</p>\n", in->refresh);
}

static void worker_row(lw_strbuf_t *t, const lw_page_input_t *in, const lw_report_worker_t *w)
{
    char who[32], rss[32], tracked[32], mfree[32], rate[32], eta[32];
    double share = in->mem_limit && w->rss > 0 ? (double)w->rss / (double)in->mem_limit : 0;

    lw_strbuf_put(t, "<tr><td>%s</td><td>%" PRId64 "</td><td>%" PRIu64 "</td><td>%s</td>",
                  lw_proc_name(lw_report_proc(in->agg, w->id), who, sizeof(who)), w->pid,
                  w->requests, w->rss > 0 ? bytes(w->rss, rss, sizeof(rss)) : "?");
    if (in->mem_limit && !in->limit_shared)
        lw_strbuf_put(t, "<td><span class=\"bar\" title=\"%.0f%% of the limit\"><i%s "
                       "style=\"width:%.0f%%\"></i></span></td>",
                    share * 100, share > HOT_SHARE ? " class=\"hot\"" : "",
                    share > 1 ? 100.0 : share * 100);
    lw_strbuf_put(t, "<td>%s</td><td>%s</td><td>%s/min</td><td>%s</td></tr>\n",
                bytes(w->tracked, tracked, sizeof(tracked)),
                w->malloc_free > 0 ? bytes(w->malloc_free, mfree, sizeof(mfree)) : "?",
                bytes(w->growth_rate, rate, sizeof(rate)),
                w->oom_eta > 0 ? span(w->oom_eta, eta, sizeof(eta)) : "&mdash;");
}

static void workers(lw_strbuf_t *t, const lw_page_input_t *in)
{
    char limit[32];
    bool bar = in->mem_limit && !in->limit_shared;

    lw_strbuf_put(t, "<h2>Workers</h2>");
    if (in->mem_limit)
        lw_strbuf_put(t, "<p class=\"muted\">memory limit %s %s</p>",
                    lw_size_format(in->mem_limit, limit, sizeof(limit)),
                    in->limit_shared ? "for all workers together (cgroup)" : "per worker");
    else
        lw_strbuf_put(t, "<p class=\"muted\">No memory limit known, so no time to it: set "
                       "--leakwatch-memory-limit, --reload-on-rss or a cgroup limit.</p>");
    if (!in->nworkers) {
        lw_strbuf_put(t, "<p class=\"muted\" id=\"no-workers\">No worker is running.</p>\n");
        return;
    }
    lw_strbuf_put(t, "<table><tr><th>process</th><th>pid</th><th>requests</th><th>RSS</th>%s"
                   "<th>Python tracked</th><th title=\"what its malloc holds free: not "
                   "native growth\">malloc free</th><th>growth</th><th>time to limit</th></tr>\n",
                bar ? "<th>of limit</th>" : "");
    for (size_t i = 0; i < in->nworkers; i++)
        worker_row(t, in, &in->workers[i]);
    lw_strbuf_put(t, "</table>\n");
}

/* The live bytes of a site over time: an area under a line, low to high. */
static void chart(lw_strbuf_t *t, const lw_sitehist_point_t *p, size_t n, int64_t now)
{
    int64_t lo = p[0].value, hi = p[0].value, t0 = p[0].time;
    double width, height;
    char a[32], b[32], c[32];

    for (size_t i = 1; i < n; i++) {
        lo = p[i].value < lo ? p[i].value : lo;
        hi = p[i].value > hi ? p[i].value : hi;
    }
    width = (double)(now > t0 ? now - t0 : 1);
    height = (double)(hi > lo ? hi - lo : 1);
    lw_strbuf_put(t, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" preserveAspectRatio=\"none\" "
                   "role=\"img\" aria-label=\"live bytes over time\"><polyline "
                   "fill=\"#dce8f8\" stroke=\"#3b7dd8\" stroke-width=\"2\" "
                   "vector-effect=\"non-scaling-stroke\" points=\"0,%d",
                CHART_W, CHART_H, CHART_H);
    for (size_t i = 0; i < n; i++) {
        double x = (double)(p[i].time - t0) / width * CHART_W;
        double y = hi > lo ? CHART_H - 4 - (double)(p[i].value - lo) / height * (CHART_H - 8)
                           : CHART_H / 2.0; /* flat: a level line, not the floor */
        lw_strbuf_put(t, " %.1f,%.1f", x, y);
    }
    lw_strbuf_put(t, " %.1f,%d\"/></svg>", (double)(p[n - 1].time - t0) / width * CHART_W,
                CHART_H);
    lw_strbuf_put(t, "<div class=\"axis\"><span>%s ago</span><span>%s &rarr; %s</span>"
                   "<span>now</span></div>",
                span(now - t0, a, sizeof(a)), bytes(lo, b, sizeof(b)), bytes(hi, c, sizeof(c)));
}

static void site_badge(lw_strbuf_t *t, const lw_agg_site_t *s)
{
    if (s->det && s->det->alerted_growth)
        lw_strbuf_put(t, "<span class=\"badge leak\">LEAK</span>");
    else if (s->det && s->verdict.kind != LW_VERDICT_NONE)
        lw_strbuf_put(t, "<span class=\"badge suspect\">suspect</span>");
    else
        lw_strbuf_put(t, "<span class=\"badge\">watched</span>");
}

/* file:line in function(), escaped. */
static void site_name(lw_strbuf_t *t, const char *file, const char *line, const char *func)
{
    lw_strbuf_put(t, "<code>");
    lw_strbuf_put_html(t, file);
    lw_strbuf_put(t, ":%s</code> in <code>", line);
    lw_strbuf_put_html(t, func);
    lw_strbuf_put(t, "()</code>");
}

static void site_endpoints(lw_strbuf_t *t, const lw_page_input_t *in, uint32_t id)
{
    uint32_t eps[LW_AGG_TOP_ENDPOINTS];
    int64_t grown[LW_AGG_TOP_ENDPOINTS];
    size_t n = lw_agg_endpoints_of(in->agg, id, eps, grown);
    char a[32];

    for (size_t i = 0; i < n; i++) {
        lw_strbuf_put(t, "%s<code>", i ? ", " : "<div class=\"muted\">endpoints: ");
        lw_strbuf_put_html(t, lw_agg_endpoint(in->agg, eps[i]));
        lw_strbuf_put(t, "</code> %s", bytes(grown[i], a, sizeof(a)));
    }
    if (n)
        lw_strbuf_put(t, "</div>");
}

/* Workers' shares and the traceback; open for a site that is growing. */
static void site_details(lw_strbuf_t *t, const lw_page_input_t *in, uint32_t id,
                         const lw_agg_site_t *s, bool growing)
{
    char a[32], who[32];
    const char *sep = "";

    lw_strbuf_put(t, "<details%s><summary>traceback, most recent call first</summary>"
                   "<div class=\"muted\">held in ", growing ? " open" : "");
    for (size_t i = 0; i < in->nworkers; i++) {
        int64_t share = lw_agg_share(in->agg, id, in->workers[i].id);
        if (share)
            lw_strbuf_put(t, "%s%s: %s", sep,
                          lw_proc_name(lw_report_proc(in->agg, in->workers[i].id), who,
                                       sizeof(who)),
                          bytes(share, a, sizeof(a)));
        sep = share ? ", " : sep;
    }
    lw_strbuf_put(t, "</div><ol class=\"tb\">");
    for (uint32_t f = 0; f < s->nframes; f++) {
        lw_strbuf_put(t, "<li>");
        site_name(t, lw_agg_field(s, 4 + 3 * f), lw_agg_field(s, 5 + 3 * f),
                  lw_agg_field(s, 6 + 3 * f));
        lw_strbuf_put(t, "</li>");
    }
    lw_strbuf_put(t, "</ol></details>");
}

/* A sum's lines that grew most, with what each grew. */
static void sum_lines(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id)
{
    lw_agg_line_t lines[PAGE_SUM_LINES];
    uint32_t nlines;
    int64_t total;
    size_t n = lw_agg_lines_of(agg, id, lines, PAGE_SUM_LINES, &nlines, &total);
    char line[16], size[32];

    lw_strbuf_put(t, "<div>grew at %u line%s:</div><ul>", nlines, nlines == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *l = lw_agg_site(agg, lines[i].id);
        snprintf(line, sizeof(line), "%" PRId32, l->line);
        lw_strbuf_put(t, "<li>");
        site_name(t, lw_agg_field(l, 0), line, lw_agg_field(l, 1));
        lw_strbuf_put(t, " +%s", bytes(lines[i].grown, size, sizeof(size)));
        if (lines[i].via > 0)
            lw_strbuf_put(t, " (%s via libraries)", bytes(lines[i].via, size, sizeof(size)));
        lw_strbuf_put(t, "</li>");
    }
    lw_strbuf_put(t, "</ul>");
}

static void site_card(lw_strbuf_t *t, const lw_page_input_t *in, uint32_t id)
{
    const lw_agg_site_t *s = lw_agg_site(in->agg, id);
    lw_sitehist_point_t pts[LW_SITEHIST_FRAMES];
    size_t n = in->hist ? lw_sitehist_series(in->hist, id, pts, LW_SITEHIST_FRAMES) : 0;
    bool growing = s->det && s->verdict.kind != LW_VERDICT_NONE;
    char line[16], live[32], growth[32];

    snprintf(line, sizeof(line), "%" PRId32, s->line);
    lw_strbuf_put(t, "<div class=\"site\"><h3>");
    site_badge(t, s);
    if (s->kind != LW_AGG_LINE) { /* a sum: what it sums, its lines below */
        lw_strbuf_put(t, "%s <code>", lw_agg_kind_name(s->kind));
        lw_strbuf_put_html(t, lw_agg_field(s, s->kind == LW_AGG_FILE ? 0 : 1));
        lw_strbuf_put(t, s->kind == LW_AGG_FILE ? "</code>" : "()</code> in <code>");
        if (s->kind == LW_AGG_FUNCTION) {
            lw_strbuf_put_html(t, lw_agg_field(s, 0));
            lw_strbuf_put(t, "</code>");
        }
    } else if (s->line < 0) { /* a pseudo-site: "<no Python frame>", "<CPython free lists>" */
        lw_strbuf_put(t, "<code>");
        lw_strbuf_put_html(t, lw_agg_field(s, 0));
        lw_strbuf_put(t, "</code>");
    } else {
        site_name(t, lw_agg_field(s, 0), line, lw_agg_field(s, 1));
    }
    lw_strbuf_put(t, "%s</h3><div>live %s", s->rollup ? " <span class=\"muted\">via libraries</span>" : "",
                bytes(s->live, live, sizeof(live)));
    if (growing && lw_agg_over_time(s))
        lw_strbuf_put(t, " &middot; grew %s over %.1f s and %" PRIu64 " requests (%.0f B/s)",
                      bytes(s->verdict.growth, growth, sizeof(growth)), s->verdict_seconds,
                      s->verdict.requests, (double)s->verdict.growth / s->verdict_seconds);
    else if (growing)
        lw_strbuf_put(t, " &middot; grew %s over %" PRIu64 " requests (%.0f B/request)",
                      bytes(s->verdict.growth, growth, sizeof(growth)), s->verdict.requests,
                      s->verdict.per_request);
    lw_strbuf_put(t, "</div>");
    if (s->held) { /* what a worker's walk found holds it */
        lw_strbuf_put(t, "<div><code>");
        lw_strbuf_put_html(t, s->held);
        lw_strbuf_put(t, "</code></div>");
    }
    if (s->kind != LW_AGG_LINE)
        sum_lines(t, in->agg, id);
    if (n)
        chart(t, pts, n, in->hist_now);
    else
        lw_strbuf_put(t, "<p class=\"muted\">no history yet</p>");
    site_endpoints(t, in, id);
    site_details(t, in, id, s, growing);
    lw_strbuf_put(t, "</div>\n");
}

size_t lw_page_pick_sites(const lw_agg_t *agg, uint32_t *out, size_t max)
{
    uint32_t rest[64];
    size_t n, m;

    if (!agg || !max)
        return 0;
    n = lw_agg_top_sites(agg, 0, true, out, max);
    m = lw_agg_top_sites(agg, 0, false, rest, max < 64 ? max : 64);
    for (size_t i = 0; i < m && n < max; i++) {
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = out[j] == rest[i];
        if (!seen)
            out[n++] = rest[i];
    }
    return n;
}

static void sites(lw_strbuf_t *t, const lw_page_input_t *in)
{
    uint32_t ids[64];
    size_t n = lw_page_pick_sites(in->agg, ids, in->max_sites < 64 ? in->max_sites : 64);

    lw_strbuf_put(t, "<h2>Growing sites</h2>");
    if (!n) {
        lw_strbuf_put(t, "<p class=\"muted\" id=\"no-sites\">No site holds enough memory to be "
                       "judged yet (a site is judged once it holds a quarter of the "
                       "threshold).</p>\n");
        return;
    }
    lw_strbuf_put(t, "<div class=\"sites\">\n");
    for (size_t i = 0; i < n; i++)
        site_card(t, in, ids[i]);
    lw_strbuf_put(t, "</div>\n");
}

static void alerts(lw_strbuf_t *t, const lw_page_input_t *in)
{
    lw_strbuf_put(t, "<h2>Alerts</h2>");
    if (!in->nalerts) {
        lw_strbuf_put(t, "<p class=\"muted\" id=\"no-alerts\">No alert since start.</p>\n");
        return;
    }
    lw_strbuf_put(t, "<table><tr><th class=\"when\">time (UTC)</th><th class=\"when\">kind</th>"
                   "<th class=\"text\">alert</th></tr>\n");
    for (size_t i = in->nalerts; i-- > 0;) {
        const lw_report_alert_t *a = &in->alerts[i];
        time_t when = (time_t)a->time;
        struct tm tm;
        char stamp[32] = "?";
        if (gmtime_r(&when, &tm))
            strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
        lw_strbuf_put(t, "<tr><td class=\"when\">%s</td><td class=\"when\">", stamp);
        lw_strbuf_put_html(t, a->kind);
        lw_strbuf_put(t, "</td><td class=\"text\"><code>");
        lw_strbuf_put_html(t, a->text);
        lw_strbuf_put(t, "</code></td></tr>\n");
    }
    lw_strbuf_put(t, "</table>\n");
}

char *lw_page_render(const lw_page_input_t *in, const lw_alloc_t *alloc, size_t *len)
{
    lw_strbuf_t t;

    lw_strbuf_init(&t, alloc, 16384);
    head(&t, in);
    workers(&t, in);
    sites(&t, in);
    alerts(&t, in);
    lw_strbuf_put(&t, "</body></html>\n");
    return lw_strbuf_finish(&t, len);
}

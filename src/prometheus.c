#include "prometheus.h"

#include "strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LW_PROMETHEUS_LABEL_MAX 512 /* bytes of one escaped label value */

/* UTF-8: a character's later bytes are 10xxxxxx; its first, if not ASCII, 11xxxxxx. */
#define UTF8_TOP_BITS 0xC0
#define UTF8_CONTINUATION 0x80
#define UTF8_LEAD_MIN 0xC0

static int utf8_continuation(unsigned char c)
{
    return (c & UTF8_TOP_BITS) == UTF8_CONTINUATION;
}

size_t lw_prometheus_escape(const char *value, char *out, size_t outlen)
{
    size_t at = 0;
    const char *p;

    for (p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t n = esc ? 2 : 1;
        if (at + n >= outlen)
            break;
        if (esc)
            memcpy(out + at, esc, 2);
        else
            out[at] = *p;
        at += n;
    }
    /* Cut inside a character (the next byte continues it): drop its first
     * bytes too. Prometheus rejects a whole scrape for one label value that
     * is not UTF-8. Escapes are ASCII, so this never eats into one. */
    if (*p && utf8_continuation((unsigned char)*p)) {
        while (at > 0 && utf8_continuation((unsigned char)out[at - 1]))
            at--;
        if (at > 0 && (unsigned char)out[at - 1] >= UTF8_LEAD_MIN) /* the character's first byte */
            at--;
    }
    out[at] = '\0';
    return at;
}

static void family(lw_strbuf_t *t, const char *name, const char *type, const char *help)
{
    lw_strbuf_put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void worker_families(lw_strbuf_t *t, const lw_prometheus_input_t *in)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } gauges[] = {
        {"leakwatch_worker_tracked_bytes", "Python bytes leakwatch estimates live in the worker.",
         offsetof(lw_report_worker_t, tracked)},
        {"leakwatch_worker_rss_bytes", "Resident set size of the worker.",
         offsetof(lw_report_worker_t, rss)},
        {"leakwatch_worker_malloc_free_bytes",
         "Bytes the worker's malloc holds free (not native growth; 0: unknown).",
         offsetof(lw_report_worker_t, malloc_free)},
        {"leakwatch_worker_oom_eta_seconds",
         "Seconds until the worker reaches its memory limit at its current rate (0: none).",
         offsetof(lw_report_worker_t, oom_eta)},
    };

    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        family(t, gauges[g].name, "gauge", gauges[g].help);
        for (size_t i = 0; i < in->nworkers; i++) {
            const lw_report_worker_t *w = &in->workers[i];
            int64_t v = *(const int64_t *)((const char *)w + gauges[g].offset);
            lw_proc_t p = lw_report_proc(in->agg, w->id);
            /* a worker's label is its id; a mule's or spooler's says its kind too,
             * so that worker="1" never matches mule 1 */
            lw_strbuf_put(t, "%s{kind=\"%s\",worker=\"%s%" PRIu32 "\"} %" PRId64 "\n",
                          gauges[g].name, lw_proc_kind_name(p.kind),
                          p.kind == LW_PROC_WORKER ? "" : lw_proc_kind_name(p.kind), p.number, v);
        }
    }
}

static void site_families(lw_strbuf_t *t, const lw_prometheus_input_t *in)
{
    uint32_t ids[1024];
    size_t n = in->agg ? lw_agg_top_sites(in->agg, 0, false, ids,
                                          in->top_sites < 1024 ? in->top_sites : 1024)
                       : 0;
    char file[LW_PROMETHEUS_LABEL_MAX], func[LW_PROMETHEUS_LABEL_MAX];

    for (int g = 0; g < 2; g++) {
        const char *name = g ? "leakwatch_site_growth_bytes" : "leakwatch_site_live_bytes";
        family(t, name, "gauge",
               g ? "Sustained growth of the site's live bytes, as the detector measures it."
                 : "Live bytes at the allocation site, all workers (the largest sites).");
        for (size_t i = 0; i < n; i++) {
            const lw_agg_site_t *s = lw_agg_site(in->agg, ids[i]);
            lw_prometheus_escape(lw_agg_field(s, 0), file, sizeof(file));
            lw_prometheus_escape(lw_agg_field(s, 1), func, sizeof(func));
            /* via_libraries keeps the series of an application line apart from the
             * one summing what libraries allocate on its behalf (same file:line);
             * kind, those of a function's or a file's sum (line 0) once announced */
            lw_strbuf_put(t,
                "%s{file=\"%s\",line=\"%" PRId32 "\",function=\"%s\",via_libraries=\"%s\","
                "kind=\"%s\"} %" PRId64 "\n",
                name, file, s->line, func, s->rollup ? "true" : "false",
                lw_agg_kind_name(s->kind),
                g ? (s->det ? s->verdict.growth : 0) : s->live);
        }
    }
}

char *lw_prometheus_render(const lw_prometheus_input_t *in, const lw_alloc_t *alloc, size_t *len)
{
    lw_strbuf_t t;

    lw_strbuf_init(&t, alloc, 4096);
    site_families(&t, in);
    worker_families(&t, in);
    family(&t, "leakwatch_alerts_total", "counter", "Alerts raised since start, by kind.");
    for (size_t i = 0; i < in->nkinds; i++)
        lw_strbuf_put(&t, "leakwatch_alerts_total{kind=\"%s\"} %" PRIu64 "\n", in->kinds[i].kind,
            in->kinds[i].count);
    family(&t, "leakwatch_samples_total", "counter", "Allocations sampled, all workers.");
    lw_strbuf_put(&t, "leakwatch_samples_total %" PRIu64 "\n", in->samples);
    family(&t, "leakwatch_lost_total", "counter",
           "Samples that could not be recorded (must stay 0).");
    lw_strbuf_put(&t, "leakwatch_lost_total %" PRIu64 "\n", in->lost);
    return lw_strbuf_finish(&t, len);
}

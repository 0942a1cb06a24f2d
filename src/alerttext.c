#include "alerttext.h"

#include "size.h"

/* The fields of a site's identity text (lw_agg_field)... */
enum { FIELD_FILE, FIELD_FUNC, FIELD_APP_FILE, FIELD_APP_FUNC, FIELD_FRAMES };
/* ...then, from FIELD_FRAMES on, these for each frame of the traceback. */
enum { FRAME_FILE, FRAME_LINE, FRAME_FUNC, FRAME_FIELDS };

#define SUM_LINES 5 /* lines a sum's LEAK alert lists */
#define SIZE_TEXT 32 /* room for any lw_size_format result ("1023.9 PiB"), as before */
#define SECONDS_PER_MINUTE 60

/* Bytes for humans, in a value the caller's format can take. */
typedef struct size_text {
    char s[SIZE_TEXT];
} size_text_t;

static size_text_t size_of_u(uint64_t bytes)
{
    size_text_t out;

    lw_size_format(bytes, out.s, sizeof(out.s));
    return out;
}

/* A signed count of bytes; below 0 says 0 B. */
static size_text_t size_of(int64_t bytes)
{
    return size_of_u((uint64_t)(bytes > 0 ? bytes : 0));
}

/* A rate in bytes per request for humans; below 0 (or not a number) says 0 B. */
static size_text_t size_of_rate(double per_request)
{
    return size_of_u((uint64_t)(per_request > 0 ? per_request : 0));
}

/* "file:line in function()" of a line; "function f() in file" and "file
 * f" of a sum; a pseudo-site ("<no Python frame>", "<CPython free lists>",
 * a line below 0) by its name alone: it has no line or function to say. */
static void put_site(lw_strbuf_t *t, const lw_agg_site_t *s)
{
    if (s->kind == LW_AGG_LINE && s->line < 0)
        lw_strbuf_put(t, "%s", lw_agg_field(s, FIELD_FILE));
    else if (s->kind == LW_AGG_FUNCTION)
        lw_strbuf_put(t, "function %s() in %s", lw_agg_field(s, FIELD_FUNC),
                      lw_agg_field(s, FIELD_FILE));
    else if (s->kind == LW_AGG_FILE)
        lw_strbuf_put(t, "file %s", lw_agg_field(s, FIELD_FILE));
    else
        lw_strbuf_put(t, "%s:%d in %s()", lw_agg_field(s, FIELD_FILE), s->line,
                      lw_agg_field(s, FIELD_FUNC));
}

/* part of whole in whole percent, rounded */
static int percent(int64_t part, int64_t whole)
{
    return whole > 0 ? (int)(100.0 * (double)part / (double)whole + 0.5) : 0;
}

/* A sum's lines, those that grew most first, with their shares of the
 * growth and, where libraries allocated part of it, how much. */
static void put_lines(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id)
{
    lw_agg_line_t lines[SUM_LINES];
    uint32_t nlines;
    int64_t total;
    size_t n = lw_agg_lines_of(agg, id, lines, SUM_LINES, &nlines, &total);

    lw_strbuf_put(t, "[leakwatch]   grew at %u line%s", nlines, nlines == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const lw_agg_line_t *l = &lines[i];
        lw_strbuf_put(t, "%s", i ? ", " : ": ");
        put_site(t, lw_agg_site(agg, l->id));
        if (l->via == l->grown)
            lw_strbuf_put(t, " via libraries");
        lw_strbuf_put(t, " +%s (%d%%", size_of(l->grown).s, percent(l->grown, total));
        if (l->via > 0 && l->via < l->grown)
            lw_strbuf_put(t, "; %d%% via libraries", percent(l->via, l->grown));
        lw_strbuf_put(t, ")");
    }
    if (nlines > n)
        lw_strbuf_put(t, ", and %u more", nlines - (uint32_t)n);
    lw_strbuf_put(t, "\n");
}

/* The line after LEAK: what the site is the sum of, or where it is reached from. */
static void put_origin(lw_strbuf_t *t, const lw_agg_t *agg, const lw_agg_cfg_t *cfg, uint32_t id,
                       const lw_agg_site_t *s)
{
    lw_agg_stats_t st;

    if (id == 0) { /* why, how many, and what makes room: there is no limit to raise */
        lw_agg_stats(agg, &st);
        lw_strbuf_put(t, "[leakwatch]   not one line: the sum of %llu site definition%s that "
                       "found all %u sites of the master's table held (by running workers, by "
                       "bytes, or for an alert); a site's place is reused once no running "
                       "worker holds it\n",
                    (unsigned long long)st.overflowed, st.overflowed == 1 ? "" : "s",
                    cfg->max_sites - 1);
    }
    else if (s->kind != LW_AGG_LINE)
        put_lines(t, agg, id);
    else if (s->line == LW_LINE_SHELF)
        lw_strbuf_put(t, "[leakwatch]   not one line: lists, tuples and dicts that CPython "
                         "handed out again from its free lists, which no allocator call "
                         "follows, so the lines that made them are unknown; the endpoints, "
                         "and what holds them, say where they are kept\n");
    else if (s->line == LW_LINE_NO_FRAME)
        lw_strbuf_put(t, "[leakwatch]   not one line: allocated from C with no Python code "
                         "running (such as uWSGI's request environ); the endpoints, and what "
                         "holds them, say where they are kept\n");
    else if (s->line == LW_LINE_OVERFLOW)
        lw_strbuf_put(t, "[leakwatch]   not one line: the sites a worker could not track, its "
                         "site table full: their bytes, not their lines\n");
    else if (s->rollup)
        lw_strbuf_put(t, "[leakwatch]   growing inside libraries called from this line\n");
    else if (lw_agg_field(s, FIELD_APP_FILE)[0] && s->app_line != s->line)
        lw_strbuf_put(t, "[leakwatch]   reached from the application at %s:%d in %s()\n",
                    lw_agg_field(s, FIELD_APP_FILE), s->app_line,
                    lw_agg_field(s, FIELD_APP_FUNC));
}

static void put_endpoints(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id)
{
    uint32_t eps[LW_AGG_TOP_ENDPOINTS];
    int64_t bytes[LW_AGG_TOP_ENDPOINTS];
    size_t n = lw_agg_endpoints_of(agg, id, eps, bytes);

    for (size_t i = 0; i < n; i++)
        lw_strbuf_put(t, "%s%s (+%s)", i ? ", " : "[leakwatch]   endpoints: ",
                      lw_agg_endpoint(agg, eps[i]), size_of(bytes[i]).s);
    if (n)
        lw_strbuf_put(t, "\n");
}

static void put_traceback(lw_strbuf_t *t, const lw_agg_site_t *s)
{
    if (s->nframes)
        lw_strbuf_put(t, "[leakwatch]   traceback, most recent call first:\n");
    for (uint32_t f = 0; f < s->nframes; f++) {
        uint32_t at = FIELD_FRAMES + FRAME_FIELDS * f;
        lw_strbuf_put(t, "[leakwatch]     %s:%s in %s()\n", lw_agg_field(s, at + FRAME_FILE),
                    lw_agg_field(s, at + FRAME_LINE), lw_agg_field(s, at + FRAME_FUNC));
    }
}

/* A sum's line that grew most (the sum itself if none did: no traceback). */
static const lw_agg_site_t *top_line(const lw_agg_t *agg, uint32_t id)
{
    lw_agg_line_t top;
    uint32_t nlines;
    int64_t total;

    return lw_agg_lines_of(agg, id, &top, 1, &nlines, &total) ? lw_agg_site(agg, top.id)
                                                               : lw_agg_site(agg, id);
}

struct holders {
    const lw_agg_t *agg;
    uint32_t id;
};

static bool holds(const void *ctx, uint32_t slot)
{
    const struct holders *h = ctx;

    return lw_agg_share(h->agg, h->id, slot) > 0;
}

/* "worker 2 pid 123", "mule 1 pid 456" */
static void put_proc(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t slot, int64_t pid)
{
    char who[32];

    lw_strbuf_put(t, "%s pid %lld", lw_procs_name(&lw_agg_config(agg)->procs, slot, who,
                                                  sizeof(who)), (long long)pid);
}

void lw_alerttext_leak(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id)
{
    const lw_agg_cfg_t *cfg = lw_agg_config(agg);
    const lw_agg_site_t *s = lw_agg_site(agg, id);

    if (!s)
        return;
    if (id == 0)
        lw_strbuf_put(t, "[leakwatch] LEAK in sites leakwatch could not track (master site "
                       "table full)");
    else {
        lw_strbuf_put(t, "[leakwatch] LEAK ");
        put_site(t, s);
    }
    if (lw_agg_over_time(s)) /* time drove it, not requests */
        lw_strbuf_put(t, ": +%s over %.*f s and %llu request%s (%s/s) on ",
                      size_of(s->verdict.growth).s, s->verdict_seconds < 10 ? 1 : 0,
                      s->verdict_seconds, (unsigned long long)s->verdict.requests,
                      s->verdict.requests == 1 ? "" : "s",
                      size_of_rate((double)s->verdict.growth / s->verdict_seconds).s);
    else
        lw_strbuf_put(t, ": +%s over %llu requests (%s/req) on ",
                      size_of(s->verdict.growth).s, (unsigned long long)s->verdict.requests,
                      size_of_rate(s->verdict.per_request).s);
    lw_procs_list(t, &cfg->procs, holds, &(struct holders){agg, id});
    lw_strbuf_put(t, "\n");
    put_origin(t, agg, cfg, id, s);
    put_endpoints(t, agg, id);
    if (s->held) /* a walk answered at an earlier announcement */
        lw_strbuf_put(t, "[leakwatch]   %s\n", s->held);
    put_traceback(t, s->kind == LW_AGG_LINE ? s : top_line(agg, id));
}

void lw_alerttext_held(lw_strbuf_t *t, const lw_agg_t *agg, uint32_t id, uint32_t wid, int64_t pid)
{
    const lw_agg_site_t *s = lw_agg_site(agg, id);

    if (!s || !s->held)
        return;
    lw_strbuf_put(t, "[leakwatch] HELD ");
    put_site(t, s);
    if (wid) {
        lw_strbuf_put(t, " on ");
        put_proc(t, agg, wid, pid);
    }
    lw_strbuf_put(t, ": %s\n", s->held);
}

void lw_alerttext_oom(lw_strbuf_t *t, const lw_agg_t *agg, const lw_alert_oom_t *in)
{
    uint32_t top[LW_ALERTTEXT_SITES];
    size_t n = lw_agg_top_sites(agg, in->wid, true, top, LW_ALERTTEXT_SITES);
    size_text_t rss = size_of_u(in->rss), limit = size_of_u(in->limit);
    size_text_t per_minute = size_of_u((uint64_t)(in->rate * SECONDS_PER_MINUTE));

    if (in->wid == 0)
        lw_strbuf_put(t, "[leakwatch] OOM all workers: rss %s growing %s/min, cgroup limit %s",
                    rss.s, per_minute.s, limit.s);
    else
    {
        lw_strbuf_put(t, "[leakwatch] OOM ");
        put_proc(t, agg, in->wid, in->pid);
        lw_strbuf_put(t, ": rss %s growing %s/min, limit %s", rss.s, per_minute.s, limit.s);
    }
    lw_strbuf_put(t, " in ~%llum%02llus", (unsigned long long)(in->eta / SECONDS_PER_MINUTE),
                (unsigned long long)(in->eta % SECONDS_PER_MINUTE));
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *s = lw_agg_site(agg, top[i]);
        int64_t held = in->wid == 0 ? s->live : lw_agg_share(agg, top[i], in->wid);
        lw_strbuf_put(t, "\n[leakwatch]   suspect ");
        put_site(t, s);
        lw_strbuf_put(t, ": %s", size_of_u((uint64_t)held).s);
    }
}

void lw_alerttext_native(lw_strbuf_t *t, const lw_agg_t *agg, const lw_alert_native_t *in)
{
    const lw_native_verdict_t *v = &in->verdict;
    uint32_t top[LW_ALERTTEXT_SITES];
    size_t n = lw_agg_top_sites(agg, in->wid, false, top, LW_ALERTTEXT_SITES);

    double seconds = (double)v->requests * LW_WORKCLOCK_TICK_US / 1e6;

    lw_strbuf_put(t, "[leakwatch] NATIVE ");
    put_proc(t, agg, in->wid, in->pid);
    if (in->timed)
        lw_strbuf_put(t, ": rss +%s over %.*f s (%s/s)", size_of_u((uint64_t)v->growth).s,
                      seconds < 10 ? 1 : 0, seconds,
                      size_of_rate(seconds > 0 ? (double)v->growth / seconds : 0).s);
    else
        lw_strbuf_put(t, ": rss +%s over %llu requests (%s/req)", size_of_u((uint64_t)v->growth).s,
                      (unsigned long long)v->requests, size_of_rate(v->per_request).s);
    lw_strbuf_put(t, " that no Python site explains (tracked %s", size_of(in->tracked).s);
    if (in->malloc_free > 0)
        lw_strbuf_put(t, ", malloc free %s", size_of(in->malloc_free).s);
    lw_strbuf_put(t, ")");
    /* the worker's largest Python sites, for the record: they are not growing */
    for (size_t i = 0; i < n; i++) {
        const lw_agg_site_t *s = lw_agg_site(agg, top[i]);
        lw_strbuf_put(t, "\n[leakwatch]   python site ");
        put_site(t, s);
        lw_strbuf_put(t, ": %s, %s", size_of_u((uint64_t)lw_agg_share(agg, top[i], in->wid)).s,
                    s->det && s->verdict.kind != LW_VERDICT_NONE ? "growing" : "flat");
    }
}

bool lw_alerttext_last_words(lw_strbuf_t *t, const lw_agg_t *agg, const lw_departure_t *d,
                             lw_endcause_t cause, bool oom_warned)
{
    if (d->nsuspects == 0 && !oom_warned)
        return false;
    lw_strbuf_put(t, "[leakwatch] LAST WORDS ");
    put_proc(t, agg, d->wid, d->pid);
    lw_strbuf_put(t, ", %s:", lw_endcause_text(cause));
    for (uint32_t k = 0; k < d->nsuspects; k++) {
        lw_strbuf_put(t, "%s ", k ? "," : "");
        put_site(t, lw_agg_site(agg, d->suspects[k]));
        lw_strbuf_put(t, " held %s", size_of_u((uint64_t)d->bytes[k]).s);
    }
    if (d->nsuspects == 0)
        lw_strbuf_put(t, " it had an OOM warning");
    return true;
}

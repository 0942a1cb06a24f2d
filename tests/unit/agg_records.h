/*
 * agg_records.h - builds the records a worker would push, for unit tests
 * that feed an aggregator (test_agg, test_expo, test_page, test_report).
 */
#ifndef LW_TEST_AGG_RECORDS_H
#define LW_TEST_AGG_RECORDS_H

#include <stdbool.h>
#include <string.h>

#include "agg.h"

static lw_record_t recs[256];
static size_t nrecs;

/* The next record, zeroed, of that kind and id. */
static inline lw_record_t *next_record(uint16_t kind, uint32_t id)
{
    lw_record_t *r = &recs[nrecs++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->id = id;
    return r;
}

static inline void hello(int64_t pid, uint64_t spawn)
{
    lw_record_t *r = next_record(LW_REC_HELLO, 0);
    r->u.hello.pid = pid;
    r->u.hello.spawn = spawn;
}

static inline void text_records(const char *text, size_t len)
{
    for (size_t off = 0; off < len; off += LW_RECORD_TEXT) {
        lw_record_t *r = next_record(LW_REC_TEXT, 0);
        r->len = (uint16_t)(len - off < LW_RECORD_TEXT ? len - off : LW_RECORD_TEXT);
        memcpy(r->u.text, text + off, r->len);
    }
}

/* fields: file, func, app file, app func, then frames (file, line, func) */
static inline void site(uint32_t id, int line, int app_line, const char *text, size_t len,
                 uint32_t nframes)
{
    lw_record_t *r = next_record(LW_REC_SITE, id);
    r->u.site.line = line;
    r->u.site.app_line = app_line;
    r->u.site.text_len = (uint32_t)len;
    r->u.site.nframes = nframes;
    text_records(text, len);
}

static inline void endpoint(uint32_t id, const char *name)
{
    lw_record_t *r = next_record(LW_REC_ENDPOINT, id);
    r->u.site.text_len = (uint32_t)strlen(name);
    text_records(name, strlen(name));
}

static inline void delta(uint32_t id, int64_t bytes, uint32_t ep)
{
    lw_record_t *r = next_record(LW_REC_DELTA, id);
    r->u.delta.bytes = bytes;
    r->u.delta.endpoint = ep;
}

static inline void feed(lw_agg_t *agg, uint32_t wid)
{
    assert_int_equal(lw_agg_feed(agg, wid, recs, nrecs), 0);
    nrecs = 0;
}

/* A site with no application frame and no traceback: file and function only. */
static inline void named_site(uint32_t id, int line, const char *file, const char *func)
{
    char text[512];
    size_t a = strlen(file) + 1, b = strlen(func) + 1;

    memcpy(text, file, a);
    memcpy(text + a, func, b);
    text[a + b] = text[a + b + 1] = '\0';
    site(id, line, line, text, a + b + 2, 0);
}

/* the id of the one site whose file and line match */
static inline uint32_t find(lw_agg_t *agg, const char *file, int line, bool rollup)
{
    uint32_t found = 0;
    for (uint32_t i = 1; lw_agg_site(agg, i); i++) {
        const lw_agg_site_t *s = lw_agg_site(agg, i);
        if (!strcmp(lw_agg_field(s, 0), file) && s->line == line && s->rollup == rollup) {
            assert_int_equal(found, 0);
            found = i;
        }
    }
    assert_int_not_equal(found, 0);
    return found;
}

/* For the renderers' tests of ignored sites: a pattern an aggregator is
 * given, a file it matches and one it does not. */
#define IGNORED_FILE "/srv/vendor/cache.py"
#define KEPT_FILE "/srv/app.py"
static const char *const ignored_files[] = {"/srv/vendor/*"};
#define KEPT_STEPS 50 /* requests the kept site takes to grow by the threshold */

/* Worker 1 (pid 101) grows a site in IGNORED_FILE (line 3) twice as fast
 * as one in KEPT_FILE (line 9), a request at a time, until the kept one is
 * alerted: the ignored one is then the larger. Returns the requests. */
static inline uint64_t grow_ignored_and_kept(lw_agg_t *agg, int64_t threshold)
{
    lw_alert_t alert;

    hello(101, 1);
    named_site(1, 3, IGNORED_FILE, "put");
    named_site(2, 9, KEPT_FILE, "handler");
    feed(agg, 1);
    for (uint64_t req = 1; req <= 20 * KEPT_STEPS; req++) {
        delta(1, 2 * threshold / KEPT_STEPS, 0);
        delta(2, threshold / KEPT_STEPS, 0);
        feed(agg, 1);
        if (lw_agg_judge(agg, req, &alert, 1) &&
            !strcmp(lw_agg_field(lw_agg_site(agg, alert.site), 0), KEPT_FILE))
            return req;
    }
    fail_msg("the site in %s was never alerted", KEPT_FILE);
    return 0;
}

#endif

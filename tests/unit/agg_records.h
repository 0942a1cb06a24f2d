/*
 * agg_records.h - the records a worker would push, made by the worker's own
 * encoder (wire.h), for unit tests that feed an aggregator (test_agg,
 * test_prometheus, test_page, test_report).
 */
#ifndef LW_TEST_AGG_RECORDS_H
#define LW_TEST_AGG_RECORDS_H

#include <stdbool.h>
#include <string.h>

#include "agg.h"

static lw_record_t recs[256];
static size_t nrecs;

/* Appends a message's records. */
static inline void put_msg(const lw_wire_msg_t *msg)
{
    int n = lw_wire_encode(&recs[nrecs], sizeof(recs) / sizeof(recs[0]) - nrecs, msg);

    assert_true(n > 0);
    nrecs += (size_t)n;
}

static inline void hello(int64_t pid, uint64_t spawn)
{
    put_msg(&(lw_wire_msg_t){.kind = LW_REC_HELLO, .u.hello = {pid, spawn, 0}});
}

/* The TEXT records of `text` with no header before them: malformed input. */
static inline void text_records(const char *text, size_t len)
{
    size_t header = nrecs;

    put_msg(&(lw_wire_msg_t){.kind = LW_REC_ENDPOINT, .text = text, .text_len = (uint32_t)len});
    memmove(&recs[header], &recs[header + 1], (nrecs - header - 1) * sizeof(lw_record_t));
    nrecs--;
}

/* fields: file, func, app file, app func, then frames (file, line, func) */
static inline void site(uint32_t id, int line, int app_line, const char *text, size_t len,
                 uint32_t nframes)
{
    put_msg(&(lw_wire_msg_t){.kind = LW_REC_SITE, .id = id, .u.site = {line, app_line, nframes},
                             .text = text, .text_len = (uint32_t)len});
}

static inline void endpoint(uint32_t id, const char *name)
{
    put_msg(&(lw_wire_msg_t){.kind = LW_REC_ENDPOINT, .id = id, .text = name,
                             .text_len = (uint32_t)strlen(name)});
}

static inline void delta(uint32_t id, int64_t bytes, uint32_t ep)
{
    put_msg(&(lw_wire_msg_t){.kind = LW_REC_DELTA, .id = id, .u.delta = {bytes, 0, ep}});
}

/* A change a collection made on leakwatch's behalf (wire.h). */
static inline void collected_delta(uint32_t id, int64_t bytes)
{
    put_msg(&(lw_wire_msg_t){.kind = LW_REC_DELTA, .id = id,
                             .u.delta = {bytes, 0, 0, LW_DELTA_COLLECTED}});
}

static inline void held_by(uint32_t id, const char *text)
{
    put_msg(&(lw_wire_msg_t){.kind = LW_REC_HELD, .id = id, .text = text,
                             .text_len = (uint32_t)strlen(text)});
}

static inline void feed(lw_agg_t *agg, uint32_t wid)
{
    assert_int_equal(lw_agg_feed(agg, wid, recs, nrecs), 0);
    nrecs = 0;
}

/* A site with no application frame and no traceback: file and function only. */
static inline void named_site(uint32_t id, int line, const char *file, const char *func)
{
    const lw_wire_site_t s = {.id = id, .line = line, .app_line = line, .file = file,
                              .func = func};
    int n = lw_wire_encode_site(&recs[nrecs], sizeof(recs) / sizeof(recs[0]) - nrecs, &s);

    assert_true(n > 0);
    assert_int_equal(recs[nrecs].u.site.text_len, strlen(file) + strlen(func) + 4); /* uncut */
    nrecs += (size_t)n;
}

/* the id of the one site whose file and line match */
static inline uint32_t find(lw_agg_t *agg, const char *file, int line, bool rollup)
{
    uint32_t found = 0;
    for (uint32_t i = 1; lw_agg_site(agg, i); i++) {
        const lw_agg_site_t *s = lw_agg_site(agg, i);
        if (!strcmp(lw_agg_field(s, 0), file) && s->line == line && s->rollup == rollup &&
            s->kind == LW_AGG_LINE) {
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

/*
 * A thread's leak: a site (/srv/jobs.py:13 in scheduler()) growing 2,000
 * bytes every 100 ms, fed to agg step by step until announced, at most
 * `limit` steps: with `timed`, time passes and a request comes a second;
 * else a request a step and no time. Returns the announced site (0: none).
 */
static inline uint32_t thread_leak(lw_agg_t *agg, bool timed, uint64_t limit)
{
    lw_alert_t alerts[4];

    hello(101, 1);
    named_site(1, 13, "/srv/jobs.py", "scheduler");
    feed(agg, 1);
    for (uint64_t k = 1; k <= limit; k++) {
        delta(1, 2000, 0);
        feed(agg, 1);
        lw_agg_look(agg, timed ? k / 10 : k, timed ? k * 100000 : 0);
        if (lw_agg_judge_now(agg, alerts, 4))
            return alerts[0].site;
    }
    return 0;
}

#endif

/*
 * alertlog.h - the master's record of the alerts it raised.
 *
 * Each alert (LEAK, NATIVE, OOM, LAST WORDS, and HELD, what holds a LEAK,
 * when a worker has found it) is raised once, where it is
 * judged, and goes three ways: counted by kind (the leakwatch.alerts metric
 * is their sum, /metrics shows each), its first line kept with its time and
 * kind among the last LW_ALERTLOG_HISTORY for the report and the page, and
 * its whole text queued in an outbox (src/outbox.h) to be logged and
 * raised as a uWSGI alarm once the caller's lock is released.
 *
 * The analyst raises alerts while holding view_lock and the report, page
 * and /metrics threads read under the same lock: the log has no lock of
 * its own. Kinds are strings that outlive the log (the LW_ALERT_* below).
 */
#ifndef LW_ALERTLOG_H
#define LW_ALERTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "outbox.h"
#include "report.h"

#define LW_ALERT_LEAK "LEAK"
#define LW_ALERT_NATIVE "NATIVE"
#define LW_ALERT_OOM "OOM"
#define LW_ALERT_LAST_WORDS "LAST WORDS"
#define LW_ALERT_HELD "HELD"

#define LW_ALERTLOG_HISTORY 64   /* alerts the report and the page list, the latest */
/* How many alerts of one kind were raised since start. */
typedef struct lw_alert_count {
    const char *kind;        /* "LEAK", "NATIVE", ... */
    uint64_t count;
} lw_alert_count_t;

#define LW_ALERTLOG_LINE 512     /* bytes kept of an alert's first line, its NUL included */

typedef struct lw_alertlog lw_alertlog_t;

/* An empty log, its outbox included; NULL when memory runs out (nothing
 * allocated then). Free with lw_alertlog_free. */
lw_alertlog_t *lw_alertlog_new(const lw_alloc_t *alloc);

void lw_alertlog_free(lw_alertlog_t *log);

/*
 * Raises an alert of `kind` made at `now` (unix seconds): text[0..len) is
 * its first line, then its detail lines, '\n' between them. Counted (when
 * kind is one of the LW_ALERT_* kinds) and kept in the history whatever
 * happens; returns 0, or -ENOMEM when the outbox could not queue it (it is
 * then counted in lw_outbox_dropped and will not be logged).
 */
int lw_alertlog_raise(lw_alertlog_t *log, const char *kind, const char *text, size_t len,
                      int64_t now);

/* The alerts raised since it was last cleared, to be said once the lock
 * is released; the caller reads it with lw_outbox_get and clears it. */
lw_outbox_t *lw_alertlog_outbox(lw_alertlog_t *log);

/* The counts by kind since start, for /metrics (LEAK, NATIVE, OOM, LAST
 * WORDS, in that order): *n of them, valid as long as the log. */
const lw_alert_count_t *lw_alertlog_kinds(const lw_alertlog_t *log, size_t *n);

/* Alerts of the LW_ALERT_* kinds since start: leakwatch.alerts. */
uint64_t lw_alertlog_total(const lw_alertlog_t *log);

/*
 * The latest alerts, oldest first, into out (room for LW_ALERTLOG_HISTORY):
 * time, kind and first line, cut to LW_ALERTLOG_LINE - 1 bytes. The texts
 * are the log's, valid until the next raise. Returns how many.
 */
size_t lw_alertlog_history(const lw_alertlog_t *log, lw_report_alert_t *out);

#endif

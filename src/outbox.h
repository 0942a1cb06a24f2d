/*
 * outbox.h - alerts made while a lock is held, said after it is released.
 *
 * The master's analyst judges with view_lock held, and the report, the page
 * and /metrics render under the same lock. Saying an alert means writing to
 * the log (stderr: a pipe, a file, uWSGI's log master, any of which can
 * block for as long as its reader is slow) and raising a uWSGI alarm (whose
 * queue, when full, makes uWSGI log an error): done under the lock, one slow
 * log stalled every listener. So the analyst puts each alert here while it
 * holds the lock and takes them out to say them once it has let go.
 *
 * An alert is a kind ("LEAK", ...) and a text: its first line (what the
 * alarm carries) and detail lines. Texts are copied; the kind must outlive
 * the outbox (a string literal). One thread puts and takes: no lock inside.
 * Memory grows to the largest round put between two clears and is reused.
 */
#ifndef LW_OUTBOX_H
#define LW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

typedef struct lw_outbox lw_outbox_t;

/* An empty outbox using `alloc`; NULL when memory runs out. Free with lw_outbox_free. */
lw_outbox_t *lw_outbox_new(const lw_alloc_t *alloc);

void lw_outbox_free(lw_outbox_t *ob);

/*
 * Queues a copy of text[0..len) as an alert of `kind`. Returns 0, or -ENOMEM
 * when memory runs out: nothing is queued then, and the alert is counted in
 * lw_outbox_dropped().
 */
int lw_outbox_put(lw_outbox_t *ob, const char *kind, const char *text, size_t len);

/* Alerts queued since the last clear. */
size_t lw_outbox_count(const lw_outbox_t *ob);

/*
 * Alert i (0 = the first put) since the last clear: its text, NUL-terminated
 * (valid until the next put or clear), *kind and *len. NULL when i is not
 * below lw_outbox_count().
 */
const char *lw_outbox_get(const lw_outbox_t *ob, size_t i, const char **kind, size_t *len);

/* Empties the queue, keeping its memory for the next round. */
void lw_outbox_clear(lw_outbox_t *ob);

/* Alerts that could not be queued, since the outbox was made. */
uint64_t lw_outbox_dropped(const lw_outbox_t *ob);

#endif

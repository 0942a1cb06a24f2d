#include "alertlog.h"

#include <stdio.h>
#include <string.h>

/* The kinds counted, in the order /metrics lists them. */
static const char *const KINDS[] = {LW_ALERT_LEAK, LW_ALERT_NATIVE, LW_ALERT_OOM,
                                    LW_ALERT_LAST_WORDS, LW_ALERT_HELD};
#define NKINDS (sizeof(KINDS) / sizeof(KINDS[0]))

typedef struct entry {
    int64_t time;
    const char *kind;
    char line[LW_ALERTLOG_LINE];
} entry_t;

struct lw_alertlog {
    lw_alloc_t alloc;
    lw_outbox_t *outbox;
    lw_alert_count_t kinds[NKINDS];
    /* A ring: alert number i (from 0, ever) is at history[i % LW_ALERTLOG_HISTORY];
     * the last min(raised, LW_ALERTLOG_HISTORY) are kept. */
    entry_t *history;
    uint64_t raised;
};

lw_alertlog_t *lw_alertlog_new(const lw_alloc_t *alloc)
{
    lw_alertlog_t *log = alloc->calloc(1, sizeof(*log));

    if (!log)
        return NULL;
    log->alloc = *alloc;
    log->history = alloc->calloc(LW_ALERTLOG_HISTORY, sizeof(entry_t));
    log->outbox = log->history ? lw_outbox_new(alloc) : NULL;
    if (!log->outbox) {
        lw_alertlog_free(log);
        return NULL;
    }
    for (size_t k = 0; k < NKINDS; k++)
        log->kinds[k].kind = KINDS[k];
    return log;
}

void lw_alertlog_free(lw_alertlog_t *log)
{
    if (!log)
        return;
    lw_outbox_free(log->outbox);
    log->alloc.free(log->history);
    log->alloc.free(log);
}

int lw_alertlog_raise(lw_alertlog_t *log, const char *kind, const char *text, size_t len,
                      int64_t now)
{
    entry_t *e = &log->history[log->raised++ % LW_ALERTLOG_HISTORY];
    const char *nl = memchr(text, '\n', len);

    for (size_t k = 0; k < NKINDS; k++)
        log->kinds[k].count += strcmp(KINDS[k], kind) == 0;
    e->time = now;
    e->kind = kind;
    snprintf(e->line, sizeof(e->line), "%.*s", (int)(nl ? (size_t)(nl - text) : len), text);
    return lw_outbox_put(log->outbox, kind, text, len);
}

lw_outbox_t *lw_alertlog_outbox(lw_alertlog_t *log)
{
    return log->outbox;
}

const lw_alert_count_t *lw_alertlog_kinds(const lw_alertlog_t *log, size_t *n)
{
    *n = NKINDS;
    return log->kinds;
}

uint64_t lw_alertlog_total(const lw_alertlog_t *log)
{
    uint64_t total = 0;

    for (size_t k = 0; k < NKINDS; k++)
        total += log->kinds[k].count;
    return total;
}

size_t lw_alertlog_history(const lw_alertlog_t *log, lw_report_alert_t *out)
{
    uint64_t first = log->raised > LW_ALERTLOG_HISTORY ? log->raised - LW_ALERTLOG_HISTORY : 0;
    size_t n = 0;

    for (uint64_t i = first; i < log->raised; i++, n++) {
        const entry_t *e = &log->history[i % LW_ALERTLOG_HISTORY];
        out[n] = (lw_report_alert_t){e->time, e->kind, e->line};
    }
    return n;
}

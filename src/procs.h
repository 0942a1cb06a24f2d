/*
 * procs.h - the processes leakwatch tracks, and their slots.
 *
 * uWSGI's master forks three kinds of process that run the application's
 * Python: workers (requests), mules (background loops, --mule) and spoolers
 * (queued tasks, --spooler). Each has a slot of its own, numbered from 1 in
 * that order: workers 1..W are slots 1..W (a worker's slot is its uWSGI id,
 * as before mules were tracked), mules 1..M follow, then spoolers 1..S. The
 * counts are known when uWSGI has parsed its options, before any fork, and
 * fixed for the run.
 *
 * Everything that says which process a figure belongs to (alerts, the
 * report, the page, /metrics) names it from here: "worker 2", "mule 1",
 * "spooler 1".
 */
#ifndef LW_PROCS_H
#define LW_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

typedef enum lw_proc_kind {
    LW_PROC_NONE = 0, /* not a slot */
    LW_PROC_WORKER,
    LW_PROC_MULE,
    LW_PROC_SPOOLER,
} lw_proc_kind_t;

typedef struct lw_procs {
    uint32_t workers, mules, spoolers;
} lw_procs_t;

/* A slot as uWSGI knows it: its kind and its number within the kind (from 1). */
typedef struct lw_proc {
    lw_proc_kind_t kind;
    uint32_t number;
} lw_proc_t;

/* Slots in all (workers + mules + spoolers); 0 when the sum overflows. */
uint32_t lw_procs_count(const lw_procs_t *p);

/* The process of slot `slot` (1-based); {LW_PROC_NONE, 0} out of range. */
lw_proc_t lw_procs_of(const lw_procs_t *p, uint32_t slot);

/* The slot of process `number` of `kind`, or 0 when there is none. */
uint32_t lw_procs_slot(const lw_procs_t *p, lw_proc_kind_t kind, uint32_t number);

/* "worker", "mule", "spooler" ("?" for LW_PROC_NONE). */
const char *lw_proc_kind_name(lw_proc_kind_t kind);

/* Writes "worker 2", "mule 1" or "spooler 1" for `p` into buf (len bytes,
 * truncated and terminated; "?" for LW_PROC_NONE). Returns buf. */
char *lw_proc_name(lw_proc_t p, char *buf, size_t len);

/*
 * Writes "worker 2", "mule 1" or "spooler 1" for slot `slot` into buf (len
 * bytes, truncated and terminated; "slot N" out of range). Returns buf.
 */
char *lw_procs_name(const lw_procs_t *p, uint32_t slot, char *buf, size_t len);

/*
 * Puts the slots that `has(ctx, slot)` picks, as a list grouped by kind:
 * "workers 1,2, mule 1, spoolers 1,2" ("worker 1" when one of a kind;
 * nothing when none is picked).
 */
void lw_procs_list(lw_strbuf_t *t, const lw_procs_t *p,
                   bool (*has)(const void *ctx, uint32_t slot), const void *ctx);

#endif

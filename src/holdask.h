/*
 * holdask.h - the master's questions "what holds this leak?" (holders.h),
 * one out per worker at a time.
 *
 * When a site is announced, the master asks the worker that holds most of
 * it to walk from its sampled objects; the worker answers after its next
 * request, with a HELD message on its ring. A worker has one question out
 * at a time (two fields of its shm slot carry it), so the questions wait
 * here, in the order asked; each is for one worker generation, whose
 * local site ids it names. An answer counts only from that generation and
 * for the question out. A generation that ends before answering loses its
 * questions: they are given back to be asked again of whoever holds the
 * site now. Pure bookkeeping: no clock, no shared memory.
 */
#ifndef LW_HOLDASK_H
#define LW_HOLDASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_HOLDASK_MAX 64 /* questions waiting or out, over all workers */

typedef struct lw_holdask_q {
    uint32_t site;   /* the announced site (the master's id) */
    uint32_t wid;    /* asked of this worker (slot)... */
    int64_t pid;     /* ...in this generation */
    uint32_t local;  /* its worker-local site to walk from */
    bool out;        /* posted to the worker, not yet answered */
} lw_holdask_q_t;

typedef struct lw_holdask {
    lw_holdask_q_t q[LW_HOLDASK_MAX]; /* oldest first */
    uint32_t n;
} lw_holdask_t;

void lw_holdask_init(lw_holdask_t *h);

/* Queues the question for announced `site`: walk worker wid's (generation
 * pid) local site `local`. 0; -EEXIST when that site is already waiting
 * for an answer; -ENOSPC when LW_HOLDASK_MAX questions wait. */
int lw_holdask_want(lw_holdask_t *h, uint32_t site, uint32_t wid, int64_t pid, uint32_t local);

/*
 * Worker wid's generation is now `pid`. Questions asked of an earlier one
 * are dropped and their sites written to lost[] (up to max; *nlost gets
 * how many), to be asked again. Then, when wid has no question out, its
 * oldest waiting one goes out: returns true with its local site in
 * *local, for the caller to post.
 */
bool lw_holdask_next(lw_holdask_t *h, uint32_t wid, int64_t pid, uint32_t *local, uint32_t *lost,
                     size_t max, size_t *nlost);

/* An answer from worker wid's generation pid about its local site: the
 * announced site of the question out it answers, removed; 0 when it
 * answers none (late, from another generation, or unasked). */
uint32_t lw_holdask_answer(lw_holdask_t *h, uint32_t wid, int64_t pid, uint32_t local);

/* Whether announced `site` waits for an answer (queued or out). */
bool lw_holdask_waiting(const lw_holdask_t *h, uint32_t site);

#endif

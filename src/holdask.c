/* holdask.c - the master's questions what holds a leak (see holdask.h). */
#include <errno.h>
#include <string.h>

#include "holdask.h"

void lw_holdask_init(lw_holdask_t *h)
{
    memset(h, 0, sizeof(*h));
}

static void drop(lw_holdask_t *h, uint32_t i)
{
    memmove(&h->q[i], &h->q[i + 1], (h->n - i - 1) * sizeof(h->q[0]));
    h->n--;
}

bool lw_holdask_waiting(const lw_holdask_t *h, uint32_t site)
{
    for (uint32_t i = 0; i < h->n; i++)
        if (h->q[i].site == site)
            return true;
    return false;
}

int lw_holdask_want(lw_holdask_t *h, uint32_t site, uint32_t wid, int64_t pid, uint32_t local)
{
    if (lw_holdask_waiting(h, site))
        return -EEXIST;
    if (h->n == LW_HOLDASK_MAX)
        return -ENOSPC;
    h->q[h->n++] = (lw_holdask_q_t){site, wid, pid, local, false};
    return 0;
}

bool lw_holdask_next(lw_holdask_t *h, uint32_t wid, int64_t pid, uint32_t *local, uint32_t *lost,
                     size_t max, size_t *nlost)
{
    lw_holdask_q_t *first = NULL;

    *nlost = 0;
    for (uint32_t i = 0; i < h->n;) {
        lw_holdask_q_t *q = &h->q[i];
        if (q->wid != wid) {
            i++;
        } else if (q->pid != pid) {
            if (*nlost < max)
                lost[(*nlost)++] = q->site;
            drop(h, i);
        } else {
            if (q->out)
                return false;
            first = first ? first : q;
            i++;
        }
    }
    if (!first)
        return false;
    first->out = true;
    *local = first->local;
    return true;
}

uint32_t lw_holdask_answer(lw_holdask_t *h, uint32_t wid, int64_t pid, uint32_t local)
{
    for (uint32_t i = 0; i < h->n; i++) {
        lw_holdask_q_t *q = &h->q[i];
        if (q->out && q->wid == wid && q->pid == pid && q->local == local) {
            uint32_t site = q->site;
            drop(h, i);
            return site;
        }
    }
    return 0;
}

#include "topn.h"

void lw_topn_init(lw_topn_t *t, uint32_t *ids, int64_t *values, size_t max)
{
    t->ids = ids;
    t->values = values;
    t->n = 0;
    t->max = max;
}

void lw_topn_offer(lw_topn_t *t, uint32_t id, int64_t value)
{
    size_t at;

    if (t->n < t->max)
        at = t->n++;
    else if (t->max > 0 && value > t->values[t->max - 1])
        at = t->max - 1;
    else
        return;
    while (at > 0 && t->values[at - 1] < value) {
        t->ids[at] = t->ids[at - 1];
        t->values[at] = t->values[at - 1];
        at--;
    }
    t->ids[at] = id;
    t->values[at] = value;
}

#include "sitehist.h"

#include <errno.h>

#define ABSENT INT64_MIN

struct lw_hist {
    lw_alloc_t alloc;                 /* a copy: the caller's may go */
    int64_t spacing;
    uint32_t nframes;                 /* frames in use, the current one last */
    int64_t time[LW_SITEHIST_FRAMES];
    struct column {
        bool used;
        uint64_t key;
        uint64_t written;             /* frame serial of its last value */
    } col[LW_SITEHIST_SERIES];
    uint64_t serial;                  /* frames begun since creation */
    int64_t value[LW_SITEHIST_FRAMES][LW_SITEHIST_SERIES];
};

lw_sitehist_t *lw_sitehist_new(const lw_alloc_t *alloc, int64_t spacing)
{
    lw_sitehist_t *h = alloc->calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    h->alloc = *alloc;
    h->spacing = spacing < 1 ? 1 : spacing;
    return h;
}

void lw_sitehist_free(lw_sitehist_t *h)
{
    if (h)
        h->alloc.free(h);
}

/* Keeps frames 1, 3, 5, ...: the newest stays, the spacing doubles. */
static void thin(lw_sitehist_t *h)
{
    uint32_t kept = 0;

    for (uint32_t f = 1; f < h->nframes; f += 2, kept++) {
        h->time[kept] = h->time[f];
        for (uint32_t c = 0; c < LW_SITEHIST_SERIES; c++)
            h->value[kept][c] = h->value[f][c];
    }
    h->nframes = kept;
    h->spacing *= 2;
}

bool lw_sitehist_begin(lw_sitehist_t *h, int64_t now)
{
    if (h->nframes && now < h->time[h->nframes - 1] + h->spacing)
        return false;
    if (h->nframes == LW_SITEHIST_FRAMES)
        thin(h);
    h->time[h->nframes] = now;
    for (uint32_t c = 0; c < LW_SITEHIST_SERIES; c++)
        h->value[h->nframes][c] = ABSENT;
    h->nframes++;
    h->serial++;
    return true;
}

static int column_of(const lw_sitehist_t *h, uint64_t key)
{
    for (int c = 0; c < LW_SITEHIST_SERIES; c++)
        if (h->col[c].used && h->col[c].key == key)
            return c;
    return -1;
}

static void clear_column(lw_sitehist_t *h, int c)
{
    for (uint32_t f = 0; f < h->nframes; f++)
        h->value[f][c] = ABSENT;
    h->col[c] = (struct column){0};
}

/* A column for a new key: a free one, else the one written longest ago. */
static int take_column(lw_sitehist_t *h, uint64_t key)
{
    int best = -1;

    for (int c = 0; c < LW_SITEHIST_SERIES; c++) {
        if (!h->col[c].used) {
            best = c;
            break;
        }
        if (h->col[c].written < h->serial &&
            (best < 0 || h->col[c].written < h->col[best].written))
            best = c;
    }
    if (best < 0)
        return -ENOSPC;
    clear_column(h, best);
    h->col[best] = (struct column){.used = true, .key = key};
    return best;
}

void lw_sitehist_forget(lw_sitehist_t *h, uint64_t key)
{
    int c = column_of(h, key);

    if (c >= 0)
        clear_column(h, c);
}

int lw_sitehist_put(lw_sitehist_t *h, uint64_t key, int64_t value)
{
    int c;

    if (!h->nframes)
        return -EINVAL;
    c = column_of(h, key);
    if (c < 0)
        c = take_column(h, key);
    if (c < 0)
        return c;
    h->value[h->nframes - 1][c] = value;
    h->col[c].written = h->serial;
    return 0;
}

size_t lw_sitehist_series(const lw_sitehist_t *h, uint64_t key, lw_sitehist_point_t *out, size_t max)
{
    int c = column_of(h, key);
    size_t n = 0;

    if (c < 0)
        return 0;
    for (uint32_t f = 0; f < h->nframes && n < max; f++)
        if (h->value[f][c] != ABSENT)
            out[n++] = (lw_sitehist_point_t){h->time[f], h->value[f][c]};
    return n;
}

int64_t lw_sitehist_spacing(const lw_sitehist_t *h)
{
    return h->spacing;
}

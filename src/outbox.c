#include "outbox.h"

#include <errno.h>
#include <string.h>

#define OUTBOX_FIRST_ALERTS 16  /* room the first put makes: a round of LEAK alerts */
#define OUTBOX_FIRST_BYTES 16384 /* one LEAK alert with its traceback, about */

typedef struct entry {
    const char *kind;
    size_t off, len;  /* the text in bytes[], NUL after it */
} entry_t;

struct lw_outbox {
    lw_alloc_t alloc;
    entry_t *entries;
    size_t count, cap;
    char *bytes;
    size_t used, room;
    uint64_t dropped;
};

lw_outbox_t *lw_outbox_new(const lw_alloc_t *alloc)
{
    lw_outbox_t *ob = alloc->calloc(1, sizeof(*ob));

    if (ob)
        ob->alloc = *alloc;
    return ob;
}

void lw_outbox_free(lw_outbox_t *ob)
{
    if (!ob)
        return;
    ob->alloc.free(ob->entries);
    ob->alloc.free(ob->bytes);
    ob->alloc.free(ob);
}

/* Makes *buf (*cap items of size bytes, `used` of them kept) hold `need`
 * items, doubling from `first`. 0 or -ENOMEM (buf unchanged). */
static int reserve(const lw_alloc_t *alloc, void **buf, size_t *cap, size_t used, size_t need,
                   size_t size, size_t first)
{
    size_t bigger = *cap ? *cap : first;
    void *p;

    if (need <= *cap)
        return 0;
    while (bigger < need) {
        if (bigger > SIZE_MAX / 2 / size)
            return -ENOMEM;
        bigger *= 2;
    }
    p = alloc->calloc(bigger, size);
    if (!p)
        return -ENOMEM;
    if (*buf)
        memcpy(p, *buf, used * size);
    alloc->free(*buf);
    *buf = p;
    *cap = bigger;
    return 0;
}

int lw_outbox_put(lw_outbox_t *ob, const char *kind, const char *text, size_t len)
{
    if (len >= SIZE_MAX - ob->used ||
        reserve(&ob->alloc, (void **)&ob->entries, &ob->cap, ob->count, ob->count + 1,
                sizeof(entry_t), OUTBOX_FIRST_ALERTS) < 0 ||
        reserve(&ob->alloc, (void **)&ob->bytes, &ob->room, ob->used, ob->used + len + 1, 1,
                OUTBOX_FIRST_BYTES) < 0) {
        ob->dropped++;
        return -ENOMEM;
    }
    memcpy(ob->bytes + ob->used, text, len);
    ob->bytes[ob->used + len] = '\0';
    ob->entries[ob->count++] = (entry_t){kind, ob->used, len};
    ob->used += len + 1;
    return 0;
}

size_t lw_outbox_count(const lw_outbox_t *ob)
{
    return ob->count;
}

const char *lw_outbox_get(const lw_outbox_t *ob, size_t i, const char **kind, size_t *len)
{
    if (i >= ob->count)
        return NULL;
    *kind = ob->entries[i].kind;
    *len = ob->entries[i].len;
    return ob->bytes + ob->entries[i].off;
}

void lw_outbox_clear(lw_outbox_t *ob)
{
    ob->count = 0;
    ob->used = 0;
}

uint64_t lw_outbox_dropped(const lw_outbox_t *ob)
{
    return ob->dropped;
}

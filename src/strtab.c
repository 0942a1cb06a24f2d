#include "strtab.h"
#include "index.h"

#include <errno.h>
#include <string.h>

#define STRTAB_MAX (UINT32_C(1) << 24)

/* FNV-1a: interning runs once per new code object, on the sampled path. */
static uint64_t hash_bytes(const char *s, uint32_t len)
{
    uint64_t h = UINT64_C(1469598103934665603);

    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
    return h ^ (h >> 32);
}

size_t lw_strtab_bytes(uint32_t capacity, uint32_t arena_bytes)
{
    if (capacity < 1 || capacity > STRTAB_MAX || arena_bytes < 1)
        return 0;
    return ((size_t)capacity + 1) * sizeof(lw_str_t) +
           2 * (size_t)capacity * sizeof(uint32_t) + arena_bytes;
}

int lw_strtab_init(lw_strtab_t *t, void *mem, uint32_t capacity, uint32_t arena_bytes)
{
    if (!mem || lw_strtab_bytes(capacity, arena_bytes) == 0)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    t->entries = mem;
    t->index = (uint32_t *)(t->entries + capacity + 1);
    t->arena = (char *)(t->index + 2 * (size_t)capacity);
    t->capacity = capacity;
    t->slots = lw_index_initial_slots(capacity);
    t->arena_bytes = arena_bytes;
    return 0;
}

/* The index grown: every id again, by its kept hash (lw_index_grows). */
static void reindex(lw_strtab_t *t)
{
    memset(t->index, 0, t->slots * sizeof(*t->index));
    for (uint32_t id = 1; id <= t->used; id++)
        t->index[lw_index_free_slot(t->index, t->slots, t->entries[id].hash)] = id;
}

int lw_strtab_intern_hooksafe(lw_strtab_t *t, const char *s, uint32_t len, uint32_t *id)
{
    uint64_t h = hash_bytes(s, len), slots = t->slots;
    uint64_t i = h % slots;

    for (;; i = (i + 1) % slots) {
        uint32_t known = t->index[i];
        const lw_str_t *e = &t->entries[known];
        if (known == 0)
            break;
        if (e->hash == h && e->len == len && !memcmp(t->arena + e->off, s, len)) {
            *id = known;
            return 0;
        }
    }
    /* the text and its NUL must fit */
    if (t->used >= t->capacity || (uint64_t)len + 1 > t->arena_bytes - t->arena_used) {
        t->refused++;
        *id = LW_STR_NONE;
        return -ENOSPC;
    }
    if (lw_index_grows(&t->slots, t->used + 1, t->capacity)) {
        reindex(t);
        i = lw_index_free_slot(t->index, t->slots, h);
    }
    lw_str_t *e = &t->entries[++t->used];
    e->hash = h;
    e->off = t->arena_used;
    e->len = len;
    memcpy(t->arena + e->off, s, len);
    t->arena[e->off + len] = '\0';
    t->arena_used += len + 1;
    t->index[i] = t->used;
    *id = t->used;
    return 1;
}

const char *lw_strtab_text(const lw_strtab_t *t, uint32_t id)
{
    if (id == LW_STR_NONE || id > t->used)
        return "";
    return t->arena + t->entries[id].off;
}

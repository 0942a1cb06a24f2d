#include "sites.h"
#include "index.h"

#include <errno.h>
#include <string.h>

#define SITES_MAX (UINT32_C(1) << 24)

static uint64_t key_hash(const lw_site_key_t *k)
{
    uint64_t h = ((uint64_t)k->file << 32 | k->func) * UINT64_C(0x9E3779B97F4A7C15);

    h ^= (uint64_t)(uint32_t)k->line * UINT64_C(0xC2B2AE3D27D4EB4F);
    h ^= ((uint64_t)k->app_file << 32 | k->app_func) * UINT64_C(0x165667B19E3779F9);
    h ^= (uint64_t)(uint32_t)k->app_line * UINT64_C(0x27D4EB2F165667C5);
    return h ^ (h >> 29);
}

static bool key_equal(const lw_site_key_t *a, const lw_site_key_t *b)
{
    return a->file == b->file && a->func == b->func && a->line == b->line &&
           a->app_file == b->app_file && a->app_func == b->app_func &&
           a->app_line == b->app_line;
}

size_t lw_sites_bytes(uint32_t capacity)
{
    if (capacity < 2 || capacity > SITES_MAX)
        return 0;
    return (size_t)capacity * sizeof(lw_site_t) + (size_t)capacity * 3 * sizeof(uint32_t);
}

int lw_sites_init(lw_sites_t *t, void *mem, uint32_t capacity)
{
    if (!mem || lw_sites_bytes(capacity) == 0)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    t->sites = mem;
    t->index = (uint32_t *)(t->sites + capacity);
    t->dirty = t->index + 2 * (size_t)capacity;
    t->capacity = capacity;
    t->slots = lw_index_initial_slots(capacity);
    t->used = 1; /* the overflow site, key all zero */
    return 0;
}

/* The index grown: every site again but the overflow site, which is never
 * looked up (lw_index_grows). */
static void reindex(lw_sites_t *t)
{
    memset(t->index, 0, t->slots * sizeof(*t->index));
    for (uint32_t idx = 1; idx < t->used; idx++)
        t->index[lw_index_free_slot(t->index, t->slots, key_hash(&t->sites[idx].key))] = idx;
}

int lw_sites_intern_hooksafe(lw_sites_t *t, const lw_site_key_t *key, uint32_t *site)
{
    uint64_t h = key_hash(key), slots = t->slots; /* load <= 1/2: short probes */
    uint64_t i = h % slots;

    for (;; i = (i + 1) % slots) {
        uint32_t idx = t->index[i];
        if (idx == 0)
            break;
        if (key_equal(&t->sites[idx].key, key)) {
            *site = idx;
            return 0;
        }
    }
    if (t->used >= t->capacity) {
        t->overflowed++;
        *site = LW_SITE_OVERFLOW;
        return 0;
    }
    if (lw_index_grows(&t->slots, t->used, t->capacity)) {
        reindex(t);
        i = lw_index_free_slot(t->index, t->slots, h);
    }
    t->index[i] = t->used;
    t->sites[t->used].key = *key;
    *site = t->used++;
    return 1;
}

static void mark_dirty(lw_sites_t *t, lw_site_t *s, uint32_t site)
{
    if (!s->dirty) {
        s->dirty = true;
        t->dirty[t->ndirty++] = site;
    }
}

void lw_sites_add_hooksafe(lw_sites_t *t, uint32_t site, lw_weight_t w)
{
    lw_site_t *s = &t->sites[site];

    s->live_bytes += w.bytes;
    s->live_count += w.count;
    s->samples++;
    mark_dirty(t, s, site);
}

void lw_sites_sub_hooksafe(lw_sites_t *t, uint32_t site, lw_weight_t w)
{
    lw_site_t *s = &t->sites[site];

    s->live_bytes -= w.bytes;
    s->live_count -= w.count;
    mark_dirty(t, s, site);
}

void lw_sites_collected_hooksafe(lw_sites_t *t, uint32_t site, lw_weight_t w)
{
    t->sites[site].collected += w.bytes;
    lw_sites_sub_hooksafe(t, site, w);
}

size_t lw_sites_drain(lw_sites_t *t, lw_site_delta_t *out, size_t max)
{
    size_t n = 0;

    while (t->ndirty > 0 && n < max) {
        uint32_t idx = t->dirty[--t->ndirty];
        lw_site_t *s = &t->sites[idx];

        s->dirty = false;
        int64_t collected = s->collected;
        s->collected = 0;
        if (s->live_bytes == s->pub_bytes && s->live_count == s->pub_count)
            continue; /* what came and went, garbage or not, changed nothing */
        out[n].site = idx;
        out[n].bytes = s->live_bytes - s->pub_bytes;
        out[n].count = s->live_count - s->pub_count;
        out[n].collected = collected;
        s->pub_bytes = s->live_bytes;
        s->pub_count = s->live_count;
        n++;
    }
    return n;
}

void lw_sites_unpublish(lw_sites_t *t, const lw_site_delta_t *delta)
{
    lw_site_t *s = &t->sites[delta->site];

    s->pub_bytes -= delta->bytes;
    s->pub_count -= delta->count;
    s->collected += delta->collected;
    mark_dirty(t, s, delta->site);
}

const lw_site_t *lw_sites_get(const lw_sites_t *t, uint32_t index)
{
    return index < t->used ? &t->sites[index] : NULL;
}

/* Reached from an application line that is not its own innermost frame. */
static bool in_library(const lw_site_key_t *k)
{
    return k->app_file && (k->app_file != k->file || k->app_line != k->line);
}

bool lw_site_key_same_rollup(const lw_site_key_t *asked, const lw_site_key_t *k)
{
    if (!memcmp(asked, k, sizeof(*k)))
        return true;
    return in_library(asked) && in_library(k) && k->app_file == asked->app_file &&
           k->app_func == asked->app_func && k->app_line == asked->app_line;
}

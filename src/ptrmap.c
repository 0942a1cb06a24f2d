#include "ptrmap.h"

#include <errno.h>
#include <string.h>

/* Fibonacci hashing of the pointer without its always-zero low bits. */
static inline uint64_t slot_of(const lw_ptrmap_t *map, uintptr_t key)
{
    return LW_PTRMAP_HASH(key) >> map->shift;
}

static inline void filter_set(lw_ptrmap_t *map, uintptr_t key)
{
    uint64_t bit = LW_PTRMAP_HASH(key) >> map->fshift;

    map->filter[bit >> 6] |= UINT64_C(1) << (bit & 63);
}

/* Capacity bytes of filter (8 bits per slot) after the slots. */
size_t lw_ptrmap_bytes(uint64_t capacity)
{
    if (capacity < 8 || (capacity & (capacity - 1)) || capacity > (UINT64_C(1) << 40))
        return 0;
    return (size_t)capacity * sizeof(lw_ptr_slot_t) + (size_t)capacity;
}

int lw_ptrmap_init(lw_ptrmap_t *map, void *mem, uint64_t capacity)
{
    uint32_t bits = 0;

    if (!mem || lw_ptrmap_bytes(capacity) == 0)
        return -EINVAL;
    while ((UINT64_C(1) << bits) < capacity)
        bits++;
    map->slots = mem;
    map->filter = (uint64_t *)(map->slots + capacity);
    map->mask = capacity - 1;
    map->shift = 64 - bits;
    map->fshift = 64 - (bits + 3);
    map->used = 0;
    return 0;
}

/* Clears key's filter bit unless another key in its home cluster uses it. */
static void filter_clear(lw_ptrmap_t *map, uintptr_t key)
{
    uint64_t bit = LW_PTRMAP_HASH(key) >> map->fshift;

    for (uint64_t j = slot_of(map, key); map->slots[j].key; j = (j + 1) & map->mask) {
        if ((LW_PTRMAP_HASH(map->slots[j].key) >> map->fshift) == bit)
            return;
    }
    map->filter[bit >> 6] &= ~(UINT64_C(1) << (bit & 63));
}

int lw_ptrmap_put_hooksafe(lw_ptrmap_t *map, uintptr_t key, uint64_t value, uint64_t *old)
{
    uint64_t i;

    if (key == 0)
        return -EINVAL;
    for (i = slot_of(map, key);; i = (i + 1) & map->mask) {
        lw_ptr_slot_t *s = &map->slots[i];
        if (s->key == key) {
            if (old)
                *old = s->value;
            s->value = value;
            return 1;
        }
        if (s->key == 0)
            break;
    }
    if ((map->used + 1) * 4 > (map->mask + 1) * 3)
        return -ENOSPC;
    map->slots[i].key = key;
    map->slots[i].value = value;
    map->used++;
    filter_set(map, key);
    return 0;
}

uint64_t *lw_ptrmap_find_hooksafe(lw_ptrmap_t *map, uintptr_t key)
{
    if (map->used == 0 || key == 0)
        return NULL;
    for (uint64_t i = slot_of(map, key);; i = (i + 1) & map->mask) {
        if (map->slots[i].key == key)
            return &map->slots[i].value;
        if (map->slots[i].key == 0)
            return NULL;
    }
}

bool lw_ptrmap_take_hooksafe(lw_ptrmap_t *map, uintptr_t key, uint64_t *value)
{
    uint64_t i, j;

    if (map->used == 0 || key == 0)
        return false;
    for (i = slot_of(map, key);; i = (i + 1) & map->mask) {
        if (map->slots[i].key == key)
            break;
        if (map->slots[i].key == 0)
            return false;
    }
    if (value)
        *value = map->slots[i].value;
    /* Backward-shift: pull later entries of the cluster into the hole when
     * their home slot does not lie cyclically in (hole, their slot]. */
    for (j = (i + 1) & map->mask; map->slots[j].key; j = (j + 1) & map->mask) {
        uint64_t home = slot_of(map, map->slots[j].key);
        if (((j - home) & map->mask) >= ((j - i) & map->mask)) {
            map->slots[i] = map->slots[j];
            i = j;
        }
    }
    map->slots[i].key = 0;
    map->slots[i].value = 0;
    map->used--;
    filter_clear(map, key);
    return true;
}

int lw_ptrmap_move(lw_ptrmap_t *to, lw_ptrmap_t *from)
{
    if (to->used != 0 || (from->used + 1) * 4 > (to->mask + 1) * 3)
        return -ENOSPC;
    for (uint64_t i = 0; i <= from->mask; i++) {
        if (from->slots[i].key)
            lw_ptrmap_put_hooksafe(to, from->slots[i].key, from->slots[i].value, NULL);
    }
    memset(from->slots, 0, lw_ptrmap_bytes(from->mask + 1));
    from->used = 0;
    return 0;
}

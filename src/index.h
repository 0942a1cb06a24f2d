/*
 * index.h - how the open-addressing indices of the string and site tables
 * grow (strtab.c, sites.c).
 *
 * Each index has room for 2 * capacity slots, so that it stays at most half
 * full, but a hash spreads even a few entries over all of it: a worker's
 * 32,768-name index (256 KiB) and 16,384-site index (128 KiB) were wholly
 * resident after a few hundred names (measured: /proc/PID/pagemap of a make
 * bench worker). So the slots in use start at INITIAL and double, in place,
 * when the next entry would pass half of them; the table then rebuilds the
 * index from its entries (ids do not change). The rest of the room is never
 * touched.
 */
#ifndef LW_INDEX_H
#define LW_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#define LW_INDEX_INITIAL 1024u /* 4 KiB of uint32_t slots */

static inline uint32_t lw_index_initial_slots(uint32_t capacity)
{
    uint64_t room = 2 * (uint64_t)capacity;

    return room < LW_INDEX_INITIAL ? (uint32_t)room : LW_INDEX_INITIAL;
}

/* With `entries` indexed after an insertion: true when *slots must grow
 * first (then doubled, at most to the room), false when they suffice. */
static inline bool lw_index_grows(uint32_t *slots, uint64_t entries, uint32_t capacity)
{
    uint64_t room = 2 * (uint64_t)capacity;

    if (entries * 2 <= *slots || *slots >= room)
        return false;
    *slots = (uint32_t)(2 * (uint64_t)*slots < room ? 2 * (uint64_t)*slots : room);
    return true;
}

/* Where an entry of hash h goes: the first empty slot from its home. */
static inline uint64_t lw_index_free_slot(const uint32_t *index, uint32_t slots, uint64_t h)
{
    uint64_t i = h % slots;

    while (index[i] != 0)
        i = (i + 1) % slots;
    return i;
}

#endif

/*
 * ptrmap.h - the set of sampled live pointers, consulted on every free.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so lookups never slow down with churn). The memory comes from
 * the caller and the map never allocates: it fits inside allocator hooks.
 * Inserts beyond 3/4 load fail (-ENOSPC) so probes stay short; the caller
 * grows the map outside the hooks (lw_ptrmap_move) when it passes 1/2.
 *
 * A value packs what a free needs to undo the sample: the block's size
 * (40 bits, blocks up to 1 TiB) and its site index (24 bits).
 *
 * Most frees are of blocks that were never sampled, so the map keeps a
 * filter in front of the table: a bitmap of 8 bits per slot, one bit set
 * for every key present. lw_ptrmap_maybe_hooksafe() is a hash, a load from
 * a few KiB that stay in L1, and a bit test; only when the bit is set does
 * the free probe the table.
 *
 * The filter stays exact under removals, which matters: allocators hand a
 * freed address straight back out, so a bit left set for a removed key
 * would sit on a hot address and send every later free of it to the table.
 * A key's filter bit is its hash's top log2(capacity)+3 bits and its home
 * slot the top log2(capacity) bits, so keys sharing a bit share a home slot
 * and therefore a probe cluster: a removal scans that cluster and clears
 * the bit when no remaining key uses it. False positives: about
 * used / (8 * capacity), never more.
 */
#ifndef LW_PTRMAP_H
#define LW_PTRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_PTRMAP_SIZE_BITS 40
#define LW_PTRMAP_SITE_MAX ((UINT32_C(1) << 24) - 1)
#define LW_PTRMAP_BLOCK_MAX ((UINT64_C(1) << LW_PTRMAP_SIZE_BITS) - 1)

typedef struct lw_ptr_slot {
    uintptr_t key;  /* 0 = empty */
    uint64_t value;
} lw_ptr_slot_t;

typedef struct lw_ptrmap {
    uint64_t *filter;   /* 8 * capacity bits */
    uint32_t fshift;    /* 64 - log2(8 * capacity) */
    uint32_t shift;     /* 64 - log2(capacity) */
    lw_ptr_slot_t *slots;
    uint64_t mask;      /* capacity - 1 */
    uint64_t used;
} lw_ptrmap_t;

#define LW_PTRMAP_HASH(key) ((uint64_t)((key) >> 4) * UINT64_C(0x9E3779B97F4A7C15))

/* Bytes of memory for `capacity` slots (a power of two >= 8), 0 otherwise. */
size_t lw_ptrmap_bytes(uint64_t capacity);

/* Uses `mem` (lw_ptrmap_bytes(capacity) zeroed bytes). 0, or -EINVAL. */
int lw_ptrmap_init(lw_ptrmap_t *map, void *mem, uint64_t capacity);

/*
 * False when `key` is certainly not in the map: the free fast path. True
 * means "maybe": call lw_ptrmap_take_hooksafe().
 */
static inline bool lw_ptrmap_maybe_hooksafe(const lw_ptrmap_t *map, uintptr_t key)
{
    uint64_t bit = LW_PTRMAP_HASH(key) >> map->fshift;

    return (map->filter[bit >> 6] >> (bit & 63)) & 1;
}

static inline uint64_t lw_ptrmap_pack(uint64_t size, uint32_t site)
{
    if (size > LW_PTRMAP_BLOCK_MAX)
        size = LW_PTRMAP_BLOCK_MAX;
    return size | ((uint64_t)site << LW_PTRMAP_SIZE_BITS);
}

static inline uint64_t lw_ptrmap_size_of(uint64_t value)
{
    return value & LW_PTRMAP_BLOCK_MAX;
}

static inline uint32_t lw_ptrmap_site_of(uint64_t value)
{
    return (uint32_t)(value >> LW_PTRMAP_SIZE_BITS);
}

/*
 * Records key -> value. Returns 0; 1 if key was already present (its value
 * is replaced and returned in *old); -ENOSPC at 3/4 load (map unchanged);
 * -EINVAL for key 0.
 */
int lw_ptrmap_put_hooksafe(lw_ptrmap_t *map, uintptr_t key, uint64_t value, uint64_t *old);

/*
 * The value stored for key, to read or rewrite in place; NULL when key is
 * absent. The pointer is valid until the next put, take or move.
 */
uint64_t *lw_ptrmap_find_hooksafe(lw_ptrmap_t *map, uintptr_t key);

/* Removes key; returns true and its value in *value if it was there. */
bool lw_ptrmap_take_hooksafe(lw_ptrmap_t *map, uintptr_t key, uint64_t *value);

/*
 * Moves every entry of `from` into the empty map `to` (larger, normally).
 * Returns 0, or -ENOSPC if `to` cannot hold them (both unchanged then).
 */
int lw_ptrmap_move(lw_ptrmap_t *to, lw_ptrmap_t *from);

#endif

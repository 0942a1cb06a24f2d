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
    lw_ptr_slot_t *slots;
    uint64_t mask;      /* capacity - 1 */
    uint32_t shift;     /* 64 - log2(capacity) */
    uint64_t used;
} lw_ptrmap_t;

/* Bytes of memory for `capacity` slots (a power of two >= 8), 0 otherwise. */
size_t lw_ptrmap_bytes(uint64_t capacity);

/* Uses `mem` (lw_ptrmap_bytes(capacity) zeroed bytes). 0, or -EINVAL. */
int lw_ptrmap_init(lw_ptrmap_t *map, void *mem, uint64_t capacity);

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

/* Removes key; returns true and its value in *value if it was there. */
bool lw_ptrmap_take_hooksafe(lw_ptrmap_t *map, uintptr_t key, uint64_t *value);

/*
 * Moves every entry of `from` into the empty map `to` (larger, normally).
 * Returns 0, or -ENOSPC if `to` cannot hold them (both unchanged then).
 */
int lw_ptrmap_move(lw_ptrmap_t *to, lw_ptrmap_t *from);

#endif

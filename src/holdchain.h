/*
 * holdchain.h - the chains of holders a walk for who holds a leak builds
 * (plugin/holders.c walks; what it keeps is decided here).
 *
 * Up to LW_CHAIN_SAMPLES sampled blocks of a leaking site; for each, the
 * chain of objects found holding it, nearest first. The walker reports
 * what it sees as it traverses live objects: an object whose referent
 * lies in a sampled block (lw_chains_block_ref), an object whose referent
 * is a holder already found (lw_chains_holder_ref); this module decides
 * whether the object becomes a holder:
 *   - a step that is empty is taken; one that is taken is replaced only
 *     by an object of a better kind (src/holdpath.h ranks them), and what
 *     was found above it goes;
 *   - nothing is said above a root (a class, a module, a function), a
 *     frame never holds, an object already below in the chain would be a
 *     cycle, a chain has at most LW_HOLD_DEPTH steps;
 *   - an object of the same plain type as the last holder (a traceback
 *     holding the next, a node of a linked list) folds into that step,
 *     which then stands for one more (`more`), so a chain of any length
 *     is climbed to its end within LW_HOLD_DEPTH steps.
 * Objects are addresses, never dereferenced here; the walker says what
 * kind each is and its type (the ops), asked only of an object that may
 * become a holder. Every sample's holders are in a small open-addressing
 * hash, so a referent is one probe; it is rebuilt before its tombstones
 * leave no slot empty (a climbed fold moves its holder at every step).
 */
#ifndef LW_HOLDCHAIN_H
#define LW_HOLDCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdpath.h"

#define LW_CHAIN_SAMPLES 16        /* blocks walked from, at most */
#define LW_CHAIN_SLOTS 512         /* the holders' hash: a power of two */
#define LW_CHAIN_MORE_MAX 1000000  /* objects one folded step stands for, at most */

/* One sampled block and the chain of holders found above it. */
typedef struct lw_chain {
    uintptr_t lo, hi;                 /* the block */
    uintptr_t holder[LW_HOLD_DEPTH];  /* nearest first */
    int rank[LW_HOLD_DEPTH];          /* of each: lower is better */
    int64_t more[LW_HOLD_DEPTH];      /* objects of its type it stands for (a fold) */
    size_t depth;
    bool rooted;                      /* the chain ends at a root */
} lw_chain_t;

/* What the walker says of an object that may become a holder. */
typedef struct lw_chain_ops {
    lw_hold_kind_t (*kind)(uintptr_t obj, void *ctx);
    uintptr_t (*type)(uintptr_t obj, void *ctx); /* its type, compared only */
    void *ctx;
} lw_chain_ops_t;

typedef struct lw_chains {
    lw_chain_t s[LW_CHAIN_SAMPLES];
    size_t n;
    struct lw_chain_range { /* the blocks sorted, overlaps merged */
        uintptr_t lo, hi;
        uint32_t mask;      /* the samples inside: bit i for s[i] */
    } r[LW_CHAIN_SAMPLES];
    size_t nr;
    struct lw_chain_slot {
        uintptr_t obj;      /* 0 empty, 1 removed */
        uint8_t sample, index;
    } h[LW_CHAIN_SLOTS];
    size_t gone;            /* removed slots in h */
    bool moved;             /* a chain changed since lw_chains_pass */
    lw_chain_ops_t ops;
} lw_chains_t;

/* No samples; ops says kinds and types. */
void lw_chains_init(lw_chains_t *c, const lw_chain_ops_t *ops);

/* A sampled block [lo, hi): false when LW_CHAIN_SAMPLES are in already or
 * the block is empty. Add every block before the first report. */
bool lw_chains_add(lw_chains_t *c, uintptr_t lo, uintptr_t hi);

/* A pass begins: the hash made anew, `moved` cleared. A pass that ends
 * with `moved` still false changed nothing: the chains are final. */
void lw_chains_pass(lw_chains_t *c);

/* Whether address a lies in a sampled block (one binary search). */
bool lw_chains_in_block(const lw_chains_t *c, uintptr_t a);

/* Object `obj` refers to address a: where a lies in a sampled block, obj
 * is offered as that block's first holder. */
void lw_chains_block_ref(lw_chains_t *c, uintptr_t a, uintptr_t obj);

/* The slot where the probe for obj starts. */
static inline size_t lw_chains_slot(uintptr_t obj)
{
    return (obj >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 55 & (LW_CHAIN_SLOTS - 1);
}

/* Whether `ref` is a holder of some chain: one probe of the hash, inline
 * (the walker asks it of every referent of every object). */
static inline bool lw_chains_is_holder(const lw_chains_t *c, uintptr_t ref)
{
    for (size_t i = lw_chains_slot(ref); c->h[i].obj; i = (i + 1) & (LW_CHAIN_SLOTS - 1))
        if (c->h[i].obj == ref)
            return true;
    return false;
}

/* Object `obj` refers to `ref`: where ref is a chain's holder k, obj is
 * offered as its holder k + 1. */
void lw_chains_holder_ref(lw_chains_t *c, uintptr_t ref, uintptr_t obj);

#endif

/*
 * holdchain.c - the chains of holders a walk builds (see holdchain.h).
 */
#include "holdchain.h"

#include <string.h>

#define GONE ((uintptr_t)1)
#define MASK (LW_CHAIN_SLOTS - 1)

/* Live holders, the tombstones a rebuild waits for, and those one
 * report's offers can add before it: never all the slots, so every probe
 * ends at an empty one. */
_Static_assert(2 * LW_CHAIN_SAMPLES * LW_HOLD_DEPTH + LW_CHAIN_SLOTS / 8 < LW_CHAIN_SLOTS,
               "hash room");
_Static_assert((LW_CHAIN_SLOTS & MASK) == 0, "slots: a power of two");
_Static_assert(LW_CHAIN_SAMPLES <= 32 && LW_HOLD_DEPTH <= 255, "masks and indices");

void lw_chains_init(lw_chains_t *c, const lw_chain_ops_t *ops)
{
    memset(c, 0, sizeof(*c));
    c->ops = *ops;
}

static void add_slot(lw_chains_t *c, uintptr_t o, size_t sample, size_t index)
{
    size_t i = lw_chains_slot(o);

    while (c->h[i].obj && c->h[i].obj != GONE)
        i = (i + 1) & MASK;
    c->gone -= c->h[i].obj == GONE;
    c->h[i] = (struct lw_chain_slot){o, (uint8_t)sample, (uint8_t)index};
}

static void remove_slot(lw_chains_t *c, uintptr_t o, size_t sample, size_t index)
{
    for (size_t i = lw_chains_slot(o); c->h[i].obj; i = (i + 1) & MASK)
        if (c->h[i].obj == o && c->h[i].sample == sample && c->h[i].index == index) {
            c->h[i].obj = GONE;
            c->gone++;
            return;
        }
}

/* The hash anew from the chains: no tombstones. */
static void reindex(lw_chains_t *c)
{
    c->gone = 0;
    memset(c->h, 0, sizeof(c->h));
    for (size_t i = 0; i < c->n; i++)
        for (size_t k = 0; k < c->s[i].depth; k++)
            add_slot(c, c->s[i].holder[k], i, k);
}

bool lw_chains_add(lw_chains_t *c, uintptr_t lo, uintptr_t hi)
{
    size_t at, w = 0;

    if (c->n >= LW_CHAIN_SAMPLES || hi <= lo)
        return false;
    c->s[c->n] = (lw_chain_t){.lo = lo, .hi = hi};
    /* into the sorted ranges, merged with what it overlaps */
    for (at = c->nr; at > 0 && c->r[at - 1].lo > lo; at--)
        c->r[at] = c->r[at - 1];
    c->r[at] = (struct lw_chain_range){lo, hi, UINT32_C(1) << c->n};
    c->nr++;
    c->n++;
    for (size_t k = 0; k < c->nr; k++) {
        if (w && c->r[k].lo < c->r[w - 1].hi) {
            if (c->r[k].hi > c->r[w - 1].hi)
                c->r[w - 1].hi = c->r[k].hi;
            c->r[w - 1].mask |= c->r[k].mask;
        } else {
            c->r[w++] = c->r[k];
        }
    }
    c->nr = w;
    return true;
}

void lw_chains_pass(lw_chains_t *c)
{
    reindex(c);
    c->moved = false;
}

/* The samples whose merged range holds address a (a mask), 0 for none. */
static uint32_t ranges_at(const lw_chains_t *c, uintptr_t a)
{
    size_t lo = 0, hi = c->nr;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->r[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo && a < c->r[lo - 1].hi ? c->r[lo - 1].mask : 0;
}

bool lw_chains_in_block(const lw_chains_t *c, uintptr_t a)
{
    return ranges_at(c, a) != 0;
}

/* Whether o is among the chain's first k holders (a cycle). */
static bool below(const lw_chain_t *s, size_t k, uintptr_t o)
{
    for (size_t i = 0; i < k; i++)
        if (s->holder[i] == o)
            return true;
    return false;
}

/* Chain si's last holder (k - 1) becomes o, which stands for one more. */
static void fold(lw_chains_t *c, size_t si, size_t k, uintptr_t o)
{
    lw_chain_t *s = &c->s[si];

    remove_slot(c, s->holder[k - 1], si, k - 1);
    s->holder[k - 1] = o;
    s->more[k - 1]++;
    add_slot(c, o, si, k - 1);
}

/*
 * `o` holds chain si's holder k - 1 (its block, for k = 0): it becomes
 * holder k if there is none, or if it is of a better kind than the one
 * there (what was above that one goes); see holdchain.h.
 */
static void offer(lw_chains_t *c, size_t si, size_t k, uintptr_t o)
{
    lw_chain_t *s = &c->s[si];
    lw_hold_kind_t kind;
    int r;

    if (k >= LW_HOLD_DEPTH || k > s->depth || (k < s->depth && s->holder[k] == o) ||
        (k == s->depth && s->rooted))
        return;
    kind = c->ops.kind(o, c->ops.ctx);
    r = lw_holdpath_rank(kind);
    if (r >= LW_HOLD_NEVER || below(s, k, o) || (k < s->depth && r >= s->rank[k]))
        return;
    if (k && k == s->depth && (kind == LW_HOLD_OTHER || kind == LW_HOLD_INSTANCE) &&
        s->more[k - 1] < LW_CHAIN_MORE_MAX &&
        c->ops.type(o, c->ops.ctx) == c->ops.type(s->holder[k - 1], c->ops.ctx)) {
        fold(c, si, k, o);
    } else {
        while (s->depth > k) {
            s->depth--;
            remove_slot(c, s->holder[s->depth], si, s->depth);
        }
        s->holder[k] = o;
        s->rank[k] = r;
        s->more[k] = 0;
        s->depth = k + 1;
        s->rooted = lw_holdpath_is_root(kind);
        add_slot(c, o, si, k);
    }
    c->moved = true;
}

void lw_chains_block_ref(lw_chains_t *c, uintptr_t a, uintptr_t obj)
{
    for (uint32_t m = ranges_at(c, a); m; m &= m - 1) {
        size_t si = (size_t)__builtin_ctz(m);
        if (a >= c->s[si].lo && a < c->s[si].hi) /* merged ranges: the block's own */
            offer(c, si, 0, obj);
    }
    if (c->gone > LW_CHAIN_SLOTS / 8)
        reindex(c);
}

void lw_chains_holder_ref(lw_chains_t *c, uintptr_t ref, uintptr_t obj)
{
    /* offers made here change slots of this probe: a removed holder stays
     * a tombstone (the probe goes on past it), an added one is obj, not ref */
    for (size_t i = lw_chains_slot(ref); c->h[i].obj; i = (i + 1) & MASK)
        if (c->h[i].obj == ref)
            offer(c, c->h[i].sample, c->h[i].index + 1u, obj);
    if (c->gone > LW_CHAIN_SLOTS / 8)
        reindex(c);
}

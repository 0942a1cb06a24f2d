/* holdpath.c - what holds a leak, in one line (see holdpath.h). */
#include <stdio.h>
#include <string.h>

#include "holdpath.h"

int lw_holdpath_is_root(lw_hold_kind_t kind)
{
    return kind == LW_HOLD_CLASS || kind == LW_HOLD_MODULE || kind == LW_HOLD_FUNCTION;
}

int lw_holdpath_rank(lw_hold_kind_t kind)
{
    switch (kind) {
    case LW_HOLD_CLASS:
    case LW_HOLD_MODULE:
        return 0;
    case LW_HOLD_DICT:
        return 1;
    case LW_HOLD_CONTAINER:
    case LW_HOLD_CELL:
        return 2;
    case LW_HOLD_INSTANCE:
    case LW_HOLD_THREADLOCAL:
    case LW_HOLD_MADE_CLASS:
    case LW_HOLD_OTHER:
        return 3;
    case LW_HOLD_FUNCTION:
        return 4;
    default: /* a frame */
        return LW_HOLD_NEVER;
    }
}

static int rooted(const lw_hold_step_t *chain, size_t depth)
{
    return depth && lw_holdpath_is_root(chain[depth - 1].kind);
}

/*
 * Whether the chain sub (m steps) is the end of the chain of (n steps):
 * of reaches its root through every holder sub names, in that order, so a
 * sample walked as `of` is held by what holds the sample walked as `sub`.
 * A chain of one type's length ("x N") is not compared: samples taken at
 * different depths of one chain of tracebacks agree. Nor is sub's first
 * key, which names where its first holder keeps sub's sample, not a part
 * of sub: loggers kept under their own names in one dict agree, and so do
 * a logger's dict and the logger (the one holds the other).
 */
static int ends_with(const lw_hold_step_t *of, size_t n, const lw_hold_step_t *sub, size_t m)
{
    if (!m || m > n)
        return 0;
    for (size_t k = 0; k < m; k++) {
        const lw_hold_step_t *a = &sub[k], *b = &of[n - m + k];
        if (a->kind != b->kind || a->items != b->items || strcmp(a->type, b->type) ||
            (k && strcmp(a->key, b->key)))
            return 0;
    }
    return 1;
}

int lw_holdpath_pick(const lw_hold_step_t (*chains)[LW_HOLD_DEPTH], const size_t *depths,
                     size_t n, size_t *agree, size_t *walked)
{
    int best = -1;

    *agree = *walked = 0;
    for (size_t i = 0; i < n; i++) {
        size_t held = 0;
        if (!depths[i])
            continue;
        (*walked)++;
        for (size_t j = 0; j < n; j++)
            held += ends_with(chains[j], depths[j], chains[i], depths[i]);
        if (best < 0 || rooted(chains[i], depths[i]) > rooted(chains[best], depths[best]) ||
            (rooted(chains[i], depths[i]) == rooted(chains[best], depths[best]) &&
             held > *agree)) {
            best = (int)i;
            *agree = held;
        }
    }
    return best;
}

struct out {
    char *s;
    size_t len, used;
    int cut;
};

static void put(struct out *o, const char *fmt, const char *a, const char *b, long long n)
{
    int w;

    if (o->cut)
        return;
    w = snprintf(o->s + o->used, o->len - o->used, fmt, a, b, n);
    if (w < 0 || (size_t)w >= o->len - o->used) {
        o->cut = 1;
        return;
    }
    o->used += (size_t)w;
}

/* A class, module or instance that holds the dict before it as its own
 * namespace (the walk says so with the key "__dict__"). */
static int owns_attributes(const lw_hold_step_t *s)
{
    return (s->kind == LW_HOLD_CLASS || s->kind == LW_HOLD_MODULE ||
            s->kind == LW_HOLD_INSTANCE || s->kind == LW_HOLD_MADE_CLASS) &&
           !strcmp(s->key, "__dict__");
}

/* An object's own description: "(list, 4644 items)", "class Profiler";
 * `also` said inside a container's or dict's parentheses ("" for none). */
static void describe(struct out *o, const lw_hold_step_t *s, const char *also)
{
    switch (s->kind) {
    case LW_HOLD_CONTAINER:
        put(o, "(%s%s, %lld items", s->type, "", s->items);
        put(o, "%s%s)", also, "", 0);
        break;
    case LW_HOLD_DICT:
        put(o, "(dict%s%s, %lld items", "", "", s->items);
        put(o, "%s%s)", also, "", 0);
        break;
    case LW_HOLD_THREADLOCAL:
        put(o, "(%s%s)", s->type, "", 0);
        break;
    case LW_HOLD_INSTANCE:
        put(o, "(%s%s instance", s->type, "", 0);
        if (s->more > 0)
            put(o, "%s%s x%lld", "", "", s->more + 1);
        put(o, ")%s%s", "", "", 0);
        break;
    case LW_HOLD_CELL:
        put(o, "(closure cell%s%s)", "", "", 0);
        break;
    case LW_HOLD_CLASS:
    case LW_HOLD_MADE_CLASS:
        put(o, "class %s%s", s->type, "", 0);
        break;
    case LW_HOLD_MODULE:
        put(o, "module %s%s", s->type, "", 0);
        break;
    case LW_HOLD_FUNCTION:
        put(o, "function %s()%s", s->type, "", 0);
        break;
    default:
        put(o, "(%s%s", s->type, "", 0);
        if (s->more > 0)
            put(o, "%s%s x%lld", "", "", s->more + 1);
        put(o, ")%s%s", "", "", 0);
        break;
    }
}

/*
 * Each object of the chain is one segment, nearest first, " <- " between:
 * its name where its holder keeps it, then what it is. A dict that holds
 * the object under a key and belongs to a class, a module or an instance
 * (their attributes) is said as that owner's attribute, not as a segment.
 */
size_t lw_holdpath_render(const lw_hold_step_t *steps, size_t n, char *out, size_t len)
{
    struct out o = {out, len, 0, 0};
    size_t i = 0;

    if (!len)
        return 0;
    out[0] = '\0';
    while (i < n) {
        const lw_hold_step_t *s = &steps[i];
        const lw_hold_step_t *d = i + 1 < n ? &steps[i + 1] : NULL;
        const lw_hold_step_t *owner = i + 2 < n ? &steps[i + 2] : NULL;
        size_t next = i + 1;
        char also[64] = "";
        if (i)
            put(&o, " <- %s%s", "", "", 0);
        /* a thread-local's attribute: the thread's dict (key), the local's
         * dict of its threads' dicts, the local; said as NAME.key, NAME
         * where its own holder keeps the local */
        if (!lw_holdpath_is_root(s->kind) && d && d->kind == LW_HOLD_DICT && d->key[0] &&
            owner && owner->kind == LW_HOLD_DICT && i + 3 < n &&
            steps[i + 3].kind == LW_HOLD_THREADLOCAL) {
            const lw_hold_step_t *named = i + 4 < n ? &steps[i + 4] : NULL;
            const lw_hold_step_t *by = i + 5 < n ? &steps[i + 5] : NULL;
            snprintf(also, sizeof(also), ", thread-local in %lld thread%s",
                     (long long)owner->items, owner->items == 1 ? "" : "s");
            if (named && named->kind == LW_HOLD_DICT && named->key[0] && by &&
                owns_attributes(by)) {
                if (by->kind != LW_HOLD_MODULE)
                    put(&o, "%s.%s", by->type, "", 0);
                put(&o, "%s.%s ", named->key, d->key, 0);
                next = i + 5; /* the local's holder comes next */
            } else {
                put(&o, "(thread-local).%s%s ", d->key, "", 0);
                next = i + 3;
            }
            describe(&o, s, also);
            i = next;
            continue;
        }
        /* a function's defaults or closure (a tuple, a dict): said as its part */
        if (d && d->kind == LW_HOLD_FUNCTION && d->key[0] &&
            (s->kind == LW_HOLD_CONTAINER || s->kind == LW_HOLD_DICT)) {
            put(&o, "%s of function %s()", d->key, d->type, 0);
            i += 2;
            continue;
        }
        if (!lw_holdpath_is_root(s->kind) && d && d->kind == LW_HOLD_DICT && d->key[0]) {
            if (owner && owns_attributes(owner)) {
                if (owner->kind == LW_HOLD_MODULE)
                    put(&o, "%s%s ", d->key, "", 0);
                else
                    put(&o, "%s.%s ", owner->type, d->key, 0);
                next = i + 2;
            } else
                put(&o, "['%s']%s ", d->key, "", 0);
        }
        describe(&o, s, also);
        i = next;
    }
    if (!n || !lw_holdpath_is_root(steps[n - 1].kind))
        /* no root: say so */
        put(&o, "%s <- ?%s", "", "", 0);
    if (o.cut && len >= 4)
        memcpy(out + len - 4, "...", 4);
    return strlen(out);
}

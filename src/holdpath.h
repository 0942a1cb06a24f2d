/*
 * holdpath.h - what holds a leak, said in one line: the chain of holders a
 * worker found from a leaking site's live objects up to a root (a class,
 * a module, a function), rendered as
 *
 *     Profiler.records (list, 4644 items) <- class Profiler
 *
 * and the agreement of several samples' chains. Pure: the worker's walk
 * (plugin/holders.c) gathers the steps from live objects; everything said
 * about them is decided here.
 */
#ifndef LW_HOLDPATH_H
#define LW_HOLDPATH_H

#include <stddef.h>
#include <stdint.h>

#define LW_HOLD_NAME_MAX 160
#define LW_HOLD_DEPTH 12
#define LW_HOLD_TEXT_MAX 512

typedef enum lw_hold_kind {
    LW_HOLD_OTHER = 0,  /* an object of some other type: named by its type */
    LW_HOLD_FRAME,      /* a frame: a running function's locals, transient */
    LW_HOLD_CONTAINER,  /* list, tuple, set, deque...: "(list, N items)" */
    LW_HOLD_DICT,       /* a dict: the key that holds the child, if found */
    LW_HOLD_INSTANCE,   /* an object whose attribute holds the child */
    LW_HOLD_CELL,       /* a closure cell */
    LW_HOLD_CLASS,      /* root: a class (its __dict__ holds the child) */
    LW_HOLD_MODULE,     /* root: a module (its globals hold the child) */
    LW_HOLD_FUNCTION,   /* root: a function (defaults or closure hold the child) */
    LW_HOLD_THREADLOCAL, /* a threading.local: each thread's attributes in a dict of its
                            own, those dicts in one dict of the local's (items: threads) */
    LW_HOLD_MADE_CLASS, /* a class its module does not name (made at run time, type(...)
                           per request): said as a class, but what holds it is looked for */
} lw_hold_kind_t;

/* One holder, nearest the leaking object first. */
typedef struct lw_hold_step {
    lw_hold_kind_t kind;
    char type[LW_HOLD_NAME_MAX];  /* its type's name (a root's own name for roots) */
    char key[LW_HOLD_NAME_MAX];   /* a dict's key that holds the child, or a function's
                                     part ("defaults", "closure"); "" */
    int64_t items;                /* a container's or dict's length; -1 unknown */
    int64_t more;                 /* objects of its type it stands for, each held by the
                                     next (a chain of tracebacks): said "x N" */
} lw_hold_step_t;

/* Whether a step ends the walk: a class, a module or a function. */
int lw_holdpath_is_root(lw_hold_kind_t kind);

/*
 * Which of several referrers of one object the walk follows, lower first;
 * LW_HOLD_NEVER for one it must not (a frame). Roots first, then
 * namespaces and containers; an instance after those (objects often point
 * back at what holds them: a logger at its manager); a function last (its
 * globals are its module's, which is the better root).
 */
#define LW_HOLD_NEVER 99
int lw_holdpath_rank(lw_hold_kind_t kind);

/*
 * Of n samples' chains (chains[i], depths[i] steps), the one said: of
 * those that reached a root (else of those with a step), the one whose
 * holders hold the most samples, the first of equals. A sample is held by
 * a chain's holders when its own chain ends with that chain, the key that
 * holds the chain's first object and chains of one type's length aside:
 * a logger's dict walked as "(Logger instance) <- (dict) <- ..." is held
 * by the "(dict) <- ..." another logger was walked as. *agree gets how
 * many samples the said chain holds, *walked how many have a step.
 * Returns its index, or -1 when no chain has a step.
 */
int lw_holdpath_pick(const lw_hold_step_t (*chains)[LW_HOLD_DEPTH], const size_t *depths,
                     size_t n, size_t *agree, size_t *walked);

/*
 * Renders a chain of n steps (nearest first) into out (len bytes, always
 * terminated; cut with "..." when too long). A chain that reached no root
 * ends with "<- ?". Returns the length written.
 */
size_t lw_holdpath_render(const lw_hold_step_t *steps, size_t n, char *out, size_t len);

#endif

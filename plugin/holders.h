/*
 * holders.h - who holds a leak: from a few of a site's sampled live blocks,
 * the chain of referrers up to a root (a class, a module, a function),
 * found by the worker between two requests (src/holdpath.h says it).
 */
#ifndef LW_HOLDERS_H
#define LW_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/holdpath.h"

/*
 * With the GIL held and the hooks guarded: walks from up to a few sampled
 * live blocks of worker-local site `site` and writes what holds them into
 * out (len bytes): "held by: ..." with how many samples agree, or "held by:
 * unknown (reason)". Stops once it has spent budget_us of CPU time (or 4 x
 * budget_us of wall time: the pause). Never raises: a Python error met
 * on the way is cleared and said. Returns 0 when a chain was found.
 * collect: cyclic garbage is collected first (not when the user turned
 * leakwatch's collections off: --leakwatch-gc off), before the budget
 * starts.
 */
int lw_holders_walk(uint32_t site, uint64_t budget_us, bool collect, char *out, size_t len);

#endif

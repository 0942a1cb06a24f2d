/*
 * freelists.h - keeps CPython's free lists from misattributing sampled
 * blocks: list, tuple and dict deaths move a sampled block to the shelf
 * (hooks.h) before CPython may hand it out again without the allocator.
 */
#ifndef LW_FREELISTS_H
#define LW_FREELISTS_H

/* In the worker, with the GIL, after lw_hooks_start: hooks the deaths. */
void lw_freelists_start(void);

/* After each request, with the GIL: shelves the key tables a dict's growth
 * put on their free list, which no death hook saw. */
void lw_freelists_after_request(void);

#endif

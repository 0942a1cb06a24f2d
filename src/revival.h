/*
 * revival.h - the decisions of following a sampled block through one of
 * CPython's free lists: whether a block pushed on a free list has been
 * handed out again, whether the line running when that is seen may be
 * charged with it, and which watch gives way to a new one.
 * plugin/freelists.c reads the free lists and the frames and asks these.
 * Pure, allocation-free and inline: the allocator hooks call them while a
 * block is watched.
 */
#ifndef LW_REVIVAL_H
#define LW_REVIVAL_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Whether a block pushed on a stack has left it. pos is the stack's count
 * right after the push (so the block is entry pos - 1 of an array); count
 * is the count now, and at what is in the block's place now: an array's
 * entry pos - 1, or a linked stack's top. An array's place tells on its
 * own; a linked stack deeper than pos is taken to hold the block still
 * (only its top can be read without walking it).
 */
static inline bool lw_revival_popped(long count, long pos, bool linked, const void *at,
                                     const void *entry)
{
    if (count < pos)
        return true;
    if (linked)
        return count == pos && at != entry;
    return at != entry;
}

/*
 * How the look that saw a revival stands to the look before it, which the
 * revival came after: unknown (no Python frame runs now, or another thread
 * made the last look); the same frame; a frame called (at any depth) from
 * the last look's frame, which is at instruction address `ip` now; or
 * another of the same thread (the last look's frame returned).
 */
enum lw_revival_frame {
    LW_REVIVAL_UNKNOWN,
    LW_REVIVAL_SAME,
    LW_REVIVAL_CALLED,
    LW_REVIVAL_OTHER,
};

/*
 * Whether the line running now is charged with the revival, the frame's
 * instruction addresses compared (they grow through a frame's code). In
 * the same frame it must be further on than the last look; at or before it, the
 * frame went round a loop and the revival may be any line of it. Called
 * from the last look's frame, that frame must not have gone back either
 * (still at the call, or further). After that frame returned, the line
 * now is the nearest one known. Unknown, none is.
 */
static inline bool lw_revival_placed(enum lw_revival_frame how, uintptr_t ip, uintptr_t last_ip)
{
    switch (how) {
    case LW_REVIVAL_SAME:
        return ip > last_ip;
    case LW_REVIVAL_CALLED:
        return ip >= last_ip;
    case LW_REVIVAL_OTHER:
        return true;
    default:
        return false;
    }
}

/* Of n watches, each with looks[i] looks left, the one a new watch
 * replaces: the oldest, with the fewest left (the newest block is the
 * nearest its stack's top, the likeliest to be handed out next). */
static inline int lw_revival_oldest(const int *looks, int n)
{
    int oldest = 0;

    for (int i = 1; i < n; i++)
        if (looks[i] < looks[oldest])
            oldest = i;
    return oldest;
}

#endif

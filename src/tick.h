/*
 * tick.h - rate limiting by time for work done from an event loop.
 *
 * uWSGI calls master_cycle on every master event, which can be thousands of
 * times a second under load or once a second when idle. A tick turns that
 * into "at most once per interval", from a clock the caller supplies.
 */
#ifndef LW_TICK_H
#define LW_TICK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lw_tick {
    uint64_t interval_us;
    uint64_t next_us;   /* 0 = due at the first call */
} lw_tick_t;

/* Sets up a tick that fires at most every interval_us (0: every call). */
void lw_tick_init(lw_tick_t *tick, uint64_t interval_us);

/*
 * Returns true, and schedules the next firing, when now_us has reached the
 * next firing time. A clock that jumps backwards fires at once rather than
 * stalling for the size of the jump.
 */
bool lw_tick_due(lw_tick_t *tick, uint64_t now_us);

#endif

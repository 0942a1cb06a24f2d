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
    uint64_t last_us;   /* the last firing, */
    bool fired;         /* if there was one */
    uint64_t cost8_us;  /* lw_tick_took's running mean cost, times 8 */
} lw_tick_t;

/* Sets up a tick that fires at most every interval_us (0: every call). */
void lw_tick_init(lw_tick_t *tick, uint64_t interval_us);

/*
 * Returns true, and schedules the next firing, when now_us has reached the
 * next firing time. A clock that jumps backwards fires at once rather than
 * stalling for the size of the jump.
 */
bool lw_tick_due(lw_tick_t *tick, uint64_t now_us);

/*
 * Says the work of the last firing took cost_us, ending at now_us: the
 * next firing waits until share x (the running mean of the costs, over
 * about the last 8) after now_us if that is later, so work whose cost
 * varies (a walk of a heap) takes about 1/share of the time at most,
 * however often it is due; one slow run does not stall it for share
 * times its cost.
 */
void lw_tick_took(lw_tick_t *tick, uint64_t now_us, uint64_t cost_us, uint32_t share);

#endif

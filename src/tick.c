#include "tick.h"

void lw_tick_init(lw_tick_t *tick, uint64_t interval_us)
{
    *tick = (lw_tick_t){.interval_us = interval_us};
}

/* now + wait, or UINT64_MAX ("not again") when that overflows */
static uint64_t after(uint64_t now_us, uint64_t wait_us)
{
    return now_us > UINT64_MAX - wait_us ? UINT64_MAX : now_us + wait_us;
}

bool lw_tick_due(lw_tick_t *tick, uint64_t now_us)
{
    /* More than one interval before the last firing: the clock went back. */
    bool jumped = tick->fired && now_us < tick->last_us &&
                  tick->last_us - now_us > tick->interval_us;

    if (now_us < tick->next_us && !jumped)
        return false;
    tick->fired = true;
    tick->last_us = now_us;
    tick->next_us = after(now_us, tick->interval_us);
    return true;
}

void lw_tick_took(lw_tick_t *tick, uint64_t now_us, uint64_t cost_us, uint32_t share)
{
    uint64_t cost, wait, next;

    if (cost_us > UINT64_MAX / 16)
        cost_us = UINT64_MAX / 16; /* the mean times 8 stays representable */
    tick->cost8_us = tick->cost8_us - tick->cost8_us / 8 + cost_us;
    cost = tick->cost8_us / 8;
    wait = cost > UINT64_MAX / (share ? share : 1) ? UINT64_MAX : cost * share;
    next = after(now_us, wait);

    if (next > tick->next_us)
        tick->next_us = next;
}

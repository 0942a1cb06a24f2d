#include "tick.h"

void lw_tick_init(lw_tick_t *tick, uint64_t interval_us)
{
    tick->interval_us = interval_us;
    tick->next_us = 0;
}

bool lw_tick_due(lw_tick_t *tick, uint64_t now_us)
{
    /* More than one interval before the last firing: the clock went back. */
    uint64_t last = tick->next_us - tick->interval_us; /* 0 before the first firing */
    bool jumped = tick->next_us > tick->interval_us && now_us + tick->interval_us < last;

    if (now_us < tick->next_us && !jumped)
        return false;
    /* saturate: an interval that overflows means "not again" */
    tick->next_us = now_us > UINT64_MAX - tick->interval_us ? UINT64_MAX
                                                            : now_us + tick->interval_us;
    return true;
}

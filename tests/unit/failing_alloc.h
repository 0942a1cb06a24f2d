/*
 * failing_alloc.h - an lw_alloc_t for unit tests that fails on demand
 * (jansson's test_chaos.c habit) and counts what is still allocated.
 * Set allocs_left to N to fail the (N+1)th allocation; -1 never fails.
 */
#ifndef LW_TEST_FAILING_ALLOC_H
#define LW_TEST_FAILING_ALLOC_H

#include <stdlib.h>

#include "agg.h"

static int allocs_left = -1; /* -1: never fail */
static int live_allocs;

static void *t_calloc(size_t n, size_t size)
{
    if (allocs_left == 0)
        return NULL;
    if (allocs_left > 0)
        allocs_left--;
    live_allocs++;
    return calloc(n, size);
}

static void t_free(void *p)
{
    if (p)
        live_allocs--;
    free(p);
}

static const lw_alloc_t alloc = {t_calloc, t_free};

#endif

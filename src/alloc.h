/*
 * alloc.h - the allocator a core module gets from its caller, so tests
 * control failure (STYLE.md) and the plugin chooses where memory comes from.
 */
#ifndef LW_ALLOC_H
#define LW_ALLOC_H

#include <stddef.h>

typedef struct lw_alloc {
    void *(*calloc)(size_t n, size_t size);
    void (*free)(void *p);
} lw_alloc_t;

#endif

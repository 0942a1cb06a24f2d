/*
 * strbuf.h - a growing string buffer for the renderers (the /metrics exposition,
 * the HTML page, alert texts): printf-style appends into memory from the caller's
 * allocator. A failed allocation sets `failed`; later appends do nothing,
 * so a renderer checks once at the end (jansson's strbuffer, with the
 * failure made sticky).
 */
#ifndef LW_STRBUF_H
#define LW_STRBUF_H

#include <stddef.h>

#include "alloc.h"

typedef struct lw_strbuf {
    const lw_alloc_t *alloc;
    char *buf;       /* NUL-terminated once anything is appended */
    size_t len, cap;
    int failed;
} lw_strbuf_t;

/* Starts an empty text with room for `cap` bytes (sets failed if that fails). */
void lw_strbuf_init(lw_strbuf_t *t, const lw_alloc_t *alloc, size_t cap);

/* Appends printf-style; nothing once failed. */
void lw_strbuf_put(lw_strbuf_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends `s` with &, <, >, " and ' as HTML character references. */
void lw_strbuf_put_html(lw_strbuf_t *t, const char *s);

/*
 * Ends the text: returns the buffer (the caller frees it with
 * alloc->free) and its length in *len, or NULL when an append failed
 * (everything released).
 */
char *lw_strbuf_finish(lw_strbuf_t *t, size_t *len);

#endif

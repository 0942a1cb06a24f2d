#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void grow(lw_strbuf_t *t, size_t need)
{
    size_t cap = t->cap ? t->cap : 4096;
    char *bigger;

    while (cap < need)
        cap *= 2;
    bigger = t->alloc->calloc(1, cap);
    if (!bigger) {
        t->failed = 1;
        return;
    }
    if (t->buf) {
        memcpy(bigger, t->buf, t->len);
        t->alloc->free(t->buf);
    }
    t->buf = bigger;
    t->cap = cap;
}

void lw_strbuf_init(lw_strbuf_t *t, const lw_alloc_t *alloc, size_t cap)
{
    *t = (lw_strbuf_t){.alloc = alloc};
    grow(t, cap);
}

void lw_strbuf_put(lw_strbuf_t *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (t->len + (size_t)n + 1 > t->cap) {
        grow(t, t->len + (size_t)n + 1);
        if (t->failed)
            return;
    }
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void lw_strbuf_put_html(lw_strbuf_t *t, const char *s)
{
    while (*s) {
        size_t plain = strcspn(s, "&<>\"'");
        if (plain)
            lw_strbuf_put(t, "%.*s", (int)plain, s);
        s += plain;
        if (!*s)
            break;
        lw_strbuf_put(t, "%s",
                    *s == '&'   ? "&amp;"
                    : *s == '<' ? "&lt;"
                    : *s == '>' ? "&gt;"
                    : *s == '"' ? "&quot;"
                                : "&#39;");
        s++;
    }
}

char *lw_strbuf_finish(lw_strbuf_t *t, size_t *len)
{
    if (t->failed) {
        if (t->buf)
            t->alloc->free(t->buf);
        *t = (lw_strbuf_t){.alloc = t->alloc, .failed = 1};
        return NULL;
    }
    *len = t->len;
    return t->buf;
}

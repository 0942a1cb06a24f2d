#define _GNU_SOURCE /* memmem */
#include "codefile.h"

#include <string.h>

bool lw_codefile_add_prefix(lw_codefile_t *c, const char *dir)
{
    size_t len = strlen(dir);

    if (c->n >= LW_CODEFILE_PREFIXES || len == 0 || len + 2 > LW_CODEFILE_PREFIX_MAX)
        return false;
    memcpy(c->prefix[c->n], dir, len);
    if (dir[len - 1] != '/')
        c->prefix[c->n][len++] = '/';
    c->prefix[c->n][len] = '\0';
    c->len[c->n++] = len;
    return true;
}

bool lw_codefile_is_library(const lw_codefile_t *c, const char *s, size_t n)
{
    if (n >= 1 && s[0] == '<') /* no file: frozen, or generated from a string */
        return true;
    if (memmem(s, n, "/site-packages/", 15) || memmem(s, n, "/dist-packages/", 15))
        return true;
    for (int i = 0; i < c->n; i++) {
        if (n >= c->len[i] && !memcmp(s, c->prefix[i], c->len[i]))
            return true;
    }
    return false;
}

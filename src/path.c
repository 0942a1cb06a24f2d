#include "path.h"

#include <stdbool.h>
#include <string.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

static bool is_identifier(const char *s, size_t n)
{
    size_t digits = 0, hex = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        digits += s[i] >= '0' && s[i] <= '9';
        hex += is_hex(s[i]);
    }
    if (digits == n)
        return true;                     /* 12345 */
    if (hex == n && n >= 16)
        return true;                     /* object ids, hashes */
    if (hex == n && n >= 8 && digits > 0)
        return true;                     /* 5f3a9c01 */
    return is_uuid(s, n);
}

struct writer {
    char *out;
    size_t len;  /* capacity, NUL included */
    size_t at;
    bool cut;
};

static void append(struct writer *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->at + 1 >= w->len) {
            w->cut = true;
            return;
        }
        w->out[w->at++] = s[i];
    }
}

size_t lw_path_fold(const char *path, size_t len, char *out, size_t outlen)
{
    const char *q = path ? memchr(path, '?', len) : NULL;
    size_t end = q ? (size_t)(q - path) : (path ? len : 0);
    struct writer w = {out, outlen, 0, false};
    size_t i = 0;

    if (outlen == 0)
        return 0;
    while (i < end) {
        size_t start = i;
        while (i < end && path[i] != '/')
            i++;
        if (is_identifier(path + start, i - start))
            append(&w, "{id}", 4);
        else
            append(&w, path + start, i - start);
        if (i < end) {
            append(&w, "/", 1);
            i++;
        }
    }
    if (w.at == 0)
        append(&w, "/", 1);
    out[w.at] = '\0';
    if (w.cut && outlen > 4) /* say that it was cut */
        memcpy(out + outlen - 4, "...", 4);
    return strlen(out);
}

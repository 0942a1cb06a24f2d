#include "http.h"

#include <errno.h>
#include <string.h>

/* The end of the head: just past "\r\n\r\n" or "\n\n", or NULL. */
static const char *head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return buf + i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return buf + i + 3;
    }
    return NULL;
}

/* Copies the token at *p up to `stop` into out (size n); -EINVAL if too long or empty. */
static int token(const char **p, const char *end, char stop, char *out, size_t n)
{
    size_t k = 0;

    while (*p < end && **p != stop) {
        unsigned char c = (unsigned char)**p;
        if (c <= ' ' || c == 0x7f || k + 1 >= n)
            return -EINVAL;
        out[k++] = (char)c;
        (*p)++;
    }
    if (k == 0 || *p == end)
        return -EINVAL;
    out[k] = '\0';
    (*p)++; /* the separator */
    return 0;
}

/* Parses the request line buf[0..eol). 0, or -EINVAL. */
static int request_line(const char *buf, const char *eol, lw_http_request_t *req)
{
    const char *p = buf;
    char target[1024];
    size_t n;

    if (eol > buf && eol[-1] == '\r')
        eol--;
    if (token(&p, eol, ' ', req->method, sizeof(req->method)) < 0 ||
        token(&p, eol, ' ', target, sizeof(target)) < 0)
        return -EINVAL;
    if ((size_t)(eol - p) != 8 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
        return -EINVAL;
    n = strcspn(target, "?#");
    if (target[0] != '/' || n >= sizeof(req->path))
        return -EINVAL;
    memcpy(req->path, target, n);
    req->path[n] = '\0';
    return 0;
}

int lw_http_parse(const char *buf, size_t len, lw_http_request_t *req)
{
    const char *eol = memchr(buf, '\n', len);

    if (!eol) { /* the request line is still arriving: control bytes already refuse it */
        if (len > LW_HTTP_LINE_MAX)
            return -EINVAL;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)buf[i];
            if ((c < ' ' && c != '\r') || c == 0x7f)
                return -EINVAL;
        }
        return 0;
    }
    if (request_line(buf, eol, req) < 0) /* garbage is refused without waiting for more */
        return -EINVAL;
    return head_end(buf, len) ? 1 : 0;
}

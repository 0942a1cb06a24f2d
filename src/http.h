/*
 * http.h - the request line of an HTTP/1.x request, for the master's
 * listener (--leakwatch-http).
 *
 * The listener reads a bounded buffer and asks after every read whether the
 * head (request line and headers, up to the blank line) is complete. Only
 * the method and the path matter: headers are skipped, the query string is
 * dropped, a body is never read. Input comes from the network, so every
 * byte is checked and nothing is trusted to be terminated.
 */
#ifndef LW_HTTP_H
#define LW_HTTP_H

#include <stddef.h>

#define LW_HTTP_PATH_MAX 256  /* bytes of path kept, NUL included */
#define LW_HTTP_LINE_MAX 1100 /* a request line longer than this cannot be valid here */

typedef struct lw_http_request {
    char method[8];               /* "GET", ... NUL-terminated */
    char path[LW_HTTP_PATH_MAX];  /* "/metrics", query string dropped */
} lw_http_request_t;

/*
 * Looks at buf[0..len). Returns 1 and fills *req when the head is complete
 * and well formed; 0 when more bytes are needed; -EINVAL when it cannot be
 * an HTTP/1.x request (a bad request line, a method or path too long, a
 * control byte, a missing "HTTP/1." version, a line past LW_HTTP_LINE_MAX
 * bytes without its end). *req is unspecified unless 1
 * is returned.
 */
int lw_http_parse(const char *buf, size_t len, lw_http_request_t *req);

#endif

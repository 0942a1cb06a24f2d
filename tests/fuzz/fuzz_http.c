/* lw_http_parse: a request head from the network, fed as the listener feeds
 * it - after every read, on a growing buffer. Every prefix of the input is
 * one possible read boundary, so every prefix is parsed, each in a block of
 * exactly its length (the parser must not read past len).
 *
 * What http.h promises and is checked: 1, 0 or -EINVAL; on 1 a method and a
 * path, NUL-terminated within their fields, the query string dropped. What
 * the listener relies on and is checked: a prefix's verdict holds for the
 * longer buffer - a head once complete stays complete with the same method
 * and path, bytes that cannot be a request stay refused - otherwise a request
 * split across reads would be answered differently from one read whole. */
#include <errno.h>

#include "fuzz.h"
#include "http.h"

static void check_request(const lw_http_request_t *req)
{
    PROMISE(memchr(req->method, '\0', sizeof(req->method)) && req->method[0]);
    PROMISE(memchr(req->path, '\0', sizeof(req->path)) && req->path[0]);
    PROMISE(!strchr(req->path, '?'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lw_http_request_t first, req;
    int verdict = 0; /* of the shorter prefixes: 0 until one is 1 or -EINVAL */

    for (size_t n = 0; n <= size; n++) {
        char *buf = fuzz_bytes(data, n);
        int rc;

        memset(&req, 0x5a, sizeof(req));
        rc = lw_http_parse(buf, n, &req);
        free(buf);
        PROMISE(rc == 1 || rc == 0 || rc == -EINVAL);
        if (verdict == -EINVAL) {
            PROMISE(rc == -EINVAL);
            continue;
        }
        if (verdict == 1) {
            PROMISE(rc == 1);
            PROMISE(!strcmp(req.method, first.method) && !strcmp(req.path, first.path));
            continue;
        }
        if (rc == 1) {
            check_request(&req);
            first = req;
        }
        verdict = rc;
    }
    return 0;
}

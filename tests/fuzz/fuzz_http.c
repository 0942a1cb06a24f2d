/* lw_http_parse: a request head from the network, fed as the listener feeds
 * it (after every read, on a growing buffer). */
#include <errno.h>

#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lw_http_request_t whole, part;
    /* exactly the bytes, no terminator: the parser must not read past len */
    char *buf = malloc(size ? size : 1);
    int rc, first_complete = -1;

    if (!buf)
        abort();
    memcpy(buf, data, size);
    rc = lw_http_parse(buf, size, &whole);
    PROMISE(rc == 1 || rc == 0 || rc == -EINVAL);
    if (rc == 1) {
        PROMISE(memchr(whole.method, '\0', sizeof(whole.method)) && whole.method[0]);
        PROMISE(memchr(whole.path, '\0', sizeof(whole.path)) && whole.path[0] == '/');
        PROMISE(!strchr(whole.path, '?'));
    }
    /* prefixes, as reads arrive: once refused or complete, more bytes change nothing */
    for (size_t n = 0; n <= size; n += 1 + n / 8) {
        int r = lw_http_parse(buf, n, &part);
        PROMISE(r == 1 || r == 0 || r == -EINVAL);
        if (r == -EINVAL)
            PROMISE(rc == -EINVAL);
        if (r == 1 && first_complete < 0) {
            first_complete = 1;
            PROMISE(rc == 1);
            PROMISE(!strcmp(part.method, whole.method) && !strcmp(part.path, whole.path));
        }
    }
    free(buf);
    return 0;
}

/* lw_addr_parse: listener addresses (":9400", "host:port", "[::1]:9400", paths).
 * addr.h promises the failure contract, which form is which (a path is
 * anything without a ':' or with a '/') and a host without brackets; an
 * accepted TCP address written back as HOST:PORT parses the same. */
#include <errno.h>

#include "addr.h"
#include "fuzz.h"

static void check_tcp(const char *text, const lw_addr_t *out)
{
    char again_text[LW_ADDR_HOST_MAX + 16];
    lw_addr_t again;

    PROMISE(strchr(text, ':') && !strchr(text, '/'));
    PROMISE(memchr(out->host, '\0', sizeof(out->host)) != NULL && out->host[0]);
    PROMISE(!strchr(out->host, '[') && !strchr(out->host, ']'));
    snprintf(again_text, sizeof(again_text), strchr(out->host, ':') ? "[%s]:%u" : "%s:%u",
             out->host, (unsigned)out->port);
    PROMISE(lw_addr_parse(again_text, &again, NULL) == 0);
    PROMISE(again.kind == LW_ADDR_TCP && again.port == out->port);
    PROMISE(!strcmp(again.host, out->host));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    lw_addr_t out, before;
    const char *why = NULL;
    int rc;

    memset(&out, 0x5a, sizeof(out));
    before = out;
    rc = lw_addr_parse(text, &out, &why);
    PROMISE(rc == 0 || rc == -EINVAL || rc == -ERANGE || rc == -ENAMETOOLONG);
    if (rc < 0) {
        PROMISE(memcmp(&out, &before, sizeof(out)) == 0 && why && *why);
    }
    else if (out.kind == LW_ADDR_TCP) {
        check_tcp(text, &out);
    }
    else {
        /* a path is the text as given */
        PROMISE(out.kind == LW_ADDR_UNIX);
        PROMISE(!strchr(text, ':') || strchr(text, '/'));
        PROMISE(memchr(out.path, '\0', sizeof(out.path)) != NULL && out.path[0]);
        PROMISE(!strcmp(out.path, text));
    }
    free(text);
    return 0;
}

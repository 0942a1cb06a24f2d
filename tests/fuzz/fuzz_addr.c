/* lw_addr_parse: listener addresses (":9400", "host:port", "[::1]:9400", paths). */
#include <errno.h>

#include "addr.h"
#include "fuzz.h"

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
        PROMISE(memchr(out.host, '\0', sizeof(out.host)) != NULL);
    }
    else {
        PROMISE(out.kind == LW_ADDR_UNIX);
        PROMISE(memchr(out.path, '\0', sizeof(out.path)) != NULL && out.path[0]);
    }
    free(text);
    return 0;
}

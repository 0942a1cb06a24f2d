/* lw_path_fold: request URIs folded into bounded endpoint names. */
#include "fuzz.h"
#include "path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[LW_ENDPOINT_MAX + 8];
    char *path = malloc(size ? size : 1); /* not terminated: len is the bound */
    size_t outlen = size ? 1 + data[0] % LW_ENDPOINT_MAX : LW_ENDPOINT_MAX;
    size_t n;

    if (!path)
        abort();
    memcpy(path, data, size);
    memset(out, 0x7f, sizeof(out));
    n = lw_path_fold(path, size, out, outlen);
    PROMISE(n < outlen && out[n] == '\0' && strlen(out) == n);
    PROMISE((unsigned char)out[outlen] == 0x7f); /* nothing written past outlen */
    free(path);
    return 0;
}

/* lw_path_fold: request URIs folded into bounded endpoint names.
 *
 * The first byte picks outlen (1 to 2 * LW_ENDPOINT_MAX: path.h bounds it
 * only below), the whole input is the path, unterminated, and out is a block
 * of exactly outlen bytes, so a byte written past it is an ASan report.
 * path.h promises: always NUL-terminated, the length written returned, the
 * query string dropped, an empty path folded to "/", a longer result cut and
 * ending in "...". The cut form is compared with the fold into a buffer large
 * enough for anything (every byte of the path becoming "{id}" at worst). */
#include "fuzz.h"
#include "path.h"

/* The fold into out[0..outlen), checked on its own. */
static size_t fold(const char *path, size_t len, char *out, size_t outlen)
{
    size_t n = lw_path_fold(path, len, out, outlen);

    PROMISE(n < outlen && out[n] == '\0' && strlen(out) == n);
    PROMISE(!strchr(out, '?'));
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t outlen = size ? 1 + data[0] % (2 * LW_ENDPOINT_MAX) : LW_ENDPOINT_MAX;
    size_t fulllen = 4 * size + 8;
    char *path = fuzz_bytes(data, size);
    char *out = malloc(outlen), *full = malloc(fulllen);
    size_t n, whole;

    if (!out || !full)
        abort();
    n = fold(path, size, out, outlen);
    whole = fold(path, size, full, fulllen);
    if (size == 0 || data[0] == '?') /* nothing before the query string */
        PROMISE(!strcmp(full, "/"));
    /* "the length written" means bytes up to the NUL: with a NUL byte in the
     * path the two differ, and neither is promised further */
    if (!memchr(data, '\0', size)) {
        if (whole < outlen) {
            PROMISE(n == whole && !strcmp(out, full)); /* fits: not cut */
        }
        else {
            PROMISE(n == outlen - 1);
            /* cut: what is kept is the start of the fold; "..." needs 3 bytes
             * and leaves at least one of the fold (outlen > 4) */
            if (outlen > 4) {
                PROMISE(!memcmp(out, full, outlen - 4) && !strcmp(out + outlen - 4, "..."));
            }
            else {
                PROMISE(!memcmp(out, full, n));
            }
        }
    }
    free(full);
    free(out);
    free(path);
    return 0;
}

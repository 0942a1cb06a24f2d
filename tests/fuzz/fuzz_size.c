/* lw_size_parse and lw_count_parse: option values ("2MB", "512k", "20").
 * Besides the failure contract, size.h promises forms, so a value it accepts
 * must be accepted alike written in other promised forms: as plain bytes,
 * surrounded by spaces, with its unit in another case. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "size.h"

/* " text " into buf (size len + 3). */
static char *spaced(const char *text, size_t len, char *buf)
{
    buf[0] = ' ';
    memcpy(buf + 1, text, len);
    buf[len + 1] = ' ';
    buf[len + 2] = '\0';
    return buf;
}

static void check_size(const char *text, size_t len, char *scratch)
{
    uint64_t out = 12345, again = 0;
    const char *why = NULL;
    char shown[32], plain[24];
    int rc = lw_size_parse(text, &out, &why);

    PROMISE(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    if (rc < 0) {
        PROMISE(out == 12345 && why && *why); /* unchanged, with a reason */
        PROMISE(lw_size_parse(spaced(text, len, scratch), &again, NULL) < 0);
        return;
    }
    PROMISE(out <= LW_SIZE_MAX);
    snprintf(plain, sizeof(plain), "%" PRIu64, out);
    PROMISE(lw_size_parse(plain, &again, NULL) == 0 && again == out);
    again = 0;
    PROMISE(lw_size_parse(spaced(text, len, scratch), &again, NULL) == 0 && again == out);
    for (size_t i = 0; i < len; i++) /* units are case-insensitive; digits have no case */
        scratch[i] = (char)(islower((unsigned char)text[i]) ? toupper((unsigned char)text[i])
                                                            : tolower((unsigned char)text[i]));
    scratch[len] = '\0';
    again = 0;
    PROMISE(lw_size_parse(scratch, &again, NULL) == 0 && again == out);
    lw_size_format(out, shown, sizeof(shown));
    PROMISE(shown[0] && strlen(shown) < sizeof(shown));
}

/* One range; returns the rc, *value set on success. */
static int check_count(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
    uint64_t out = 777;
    const char *why = NULL;
    int rc = lw_count_parse(text, min, max, &out, &why);

    PROMISE(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    if (rc < 0)
        PROMISE(out == 777 && why && *why);
    else
        PROMISE(out >= min && out <= max);
    *value = out;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    size_t len = strlen(text);
    char *scratch = malloc(len + 3);
    uint64_t any, port, small, bytes;

    if (!scratch)
        abort();
    check_size(text, len, scratch);
    /* a count accepted over every value is accepted in a range iff it lies there */
    if (check_count(text, 0, UINT64_MAX, &any) == 0) {
        PROMISE((check_count(text, 3, 1000, &small) == 0) == (any >= 3 && any <= 1000));
        PROMISE((check_count(text, 1, 65535, &port) == 0) == (any >= 1 && any <= 65535));
        /* and a plain count is a size without a unit */
        if (any <= LW_SIZE_MAX)
            PROMISE(lw_size_parse(text, &bytes, NULL) == 0 && bytes == any);
    }
    else {
        PROMISE(check_count(text, 3, 1000, &small) < 0);
        PROMISE(check_count(text, 1, 65535, &port) < 0);
    }
    free(scratch);
    free(text);
    return 0;
}

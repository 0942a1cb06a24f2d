/* lw_size_parse and lw_count_parse: option values ("2MB", "512k", "20"). */
#include <errno.h>

#include "fuzz.h"
#include "size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    uint64_t out = 12345, again = 0;
    const char *why = NULL;
    char shown[32];
    int rc = lw_size_parse(text, &out, &why);

    PROMISE(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    if (rc < 0) {
        PROMISE(out == 12345 && why && *why); /* unchanged, with a reason */
    }
    else {
        PROMISE(out <= LW_SIZE_MAX);
        /* the same text parses the same way twice */
        PROMISE(lw_size_parse(text, &again, NULL) == 0 && again == out);
        lw_size_format(out, shown, sizeof(shown));
        PROMISE(strlen(shown) < sizeof(shown));
    }
    out = 777;
    why = NULL;
    rc = lw_count_parse(text, 3, 1000, &out, &why);
    PROMISE(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    PROMISE(rc == 0 ? out >= 3 && out <= 1000 : out == 777 && why && *why);
    free(text);
    return 0;
}

/* lw_cgroup_limit: the cgroup files it reads hold the input (v2 memory.max,
 * or one of v1's memory.limit_in_bytes, the first byte says which). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "memlimit.h"

static char root[64];

static void write_file(const char *name, const uint8_t *data, size_t size)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, name);
    f = fopen(path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"memory.max", "memory/memory.limit_in_bytes",
                                        "memory.limit_in_bytes"};
    char path[160];
    uint64_t limit = 99;
    int rc;

    if (!root[0]) {
        snprintf(root, sizeof(root), "/tmp/leakwatch-fuzz-cgroup-XXXXXX");
        if (!mkdtemp(root))
            abort();
        snprintf(path, sizeof(path), "%s/memory", root);
        mkdir(path, 0700);
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, files[i]);
        unlink(path);
    }
    if (size == 0) {
        PROMISE(lw_cgroup_limit(root, &limit) == -ENOENT);
        return 0;
    }
    write_file(files[data[0] % 3], data + 1, size - 1);
    rc = lw_cgroup_limit(root, &limit);
    PROMISE(rc == 0 || rc == -EINVAL);
    if (rc == 0)
        PROMISE(limit < LW_CGROUP_UNLIMITED);
    return 0;
}

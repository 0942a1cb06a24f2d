/* lw_cgroup_limit: the cgroup files it reads hold the input, in a directory
 * of this process made once (removed at exit).
 *
 * The first byte b says where: b % 3 picks the file that gets the rest of
 * the input (v2 memory.max, v1 memory/memory.limit_in_bytes or v1
 * memory.limit_in_bytes, the order memlimit.h says they are read in), and
 * when (b / 3) is odd the files after it also exist, holding a valid decoy
 * limit that must change nothing. memlimit.h promises 0, -ENOENT or -EINVAL;
 * 0 with "max" and unlimited as 0; and the byte count itself for a file that
 * is exactly a decimal count (with or without its newline). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "memlimit.h"

#define NFILES 3
static const char *const files[NFILES] = {"memory.max", "memory/memory.limit_in_bytes",
                                          "memory.limit_in_bytes"};
static const char decoy[] = "4096\n";
static char root[256];

static void path_of(char *path, size_t len, const char *name)
{
    snprintf(path, len, "%s/%s", root, name);
}

static void remove_files(void)
{
    char path[sizeof(root) + 64];

    for (size_t i = 0; i < NFILES; i++) {
        path_of(path, sizeof(path), files[i]);
        unlink(path);
    }
}

static void remove_root(void)
{
    char path[sizeof(root) + 64];

    remove_files();
    path_of(path, sizeof(path), "memory");
    rmdir(path);
    rmdir(root);
}

static void make_root(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[sizeof(root) + 64];

    snprintf(root, sizeof(root), "%s/leakwatch-fuzz-cgroup-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
        abort();
    path_of(path, sizeof(path), "memory");
    if (mkdir(path, 0700) < 0)
        abort();
    atexit(remove_root);
}

static void write_file(const char *name, const void *data, size_t size)
{
    char path[sizeof(root) + 64];
    FILE *f;

    path_of(path, sizeof(path), name);
    f = fopen(path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
}

/* What memlimit.h says the file means when it is exactly "max", a decimal
 * count of up to 19 digits, or empty, each with or without "\n": 1 with
 * *rc and *limit set; 0 when the header leaves it open. */
static int expected(const uint8_t *text, size_t len, int *rc, uint64_t *limit)
{
    uint64_t v = 0;

    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (memchr(text, '\n', len))
        return 0;
    if (len == 0) {
        *rc = -EINVAL;
        return 1;
    }
    if (len == 3 && !memcmp(text, "max", 3)) {
        *rc = 0;
        *limit = 0;
        return 1;
    }
    if (len > 19)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *rc = 0;
    *limit = v >= LW_CGROUP_UNLIMITED ? 0 : v;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t limit = 99, again = 98, want = 0;
    size_t which;
    int rc, want_rc;

    if (!root[0])
        make_root();
    remove_files();
    if (size == 0) {
        PROMISE(lw_cgroup_limit(root, &limit) == -ENOENT);
        return 0;
    }
    which = data[0] % NFILES;
    write_file(files[which], data + 1, size - 1);
    rc = lw_cgroup_limit(root, &limit);
    PROMISE(rc == 0 || rc == -EINVAL);
    if (rc == 0)
        PROMISE(limit < LW_CGROUP_UNLIMITED);
    if (expected(data + 1, size - 1, &want_rc, &want)) {
        PROMISE(rc == want_rc);
        if (rc == 0)
            PROMISE(limit == want);
    }
    if ((data[0] / NFILES) % 2) { /* files read later change nothing */
        for (size_t i = which + 1; i < NFILES; i++)
            write_file(files[i], decoy, sizeof(decoy) - 1);
        PROMISE(lw_cgroup_limit(root, &again) == rc);
        if (rc == 0)
            PROMISE(again == limit);
    }
    return 0;
}

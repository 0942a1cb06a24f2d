/* lw_cgroup_limit: the cgroup files it reads hold the input, in a directory
 * of this process made once (removed at exit).
 *
 * The first byte b says where: b % 2 picks the file that gets the rest of
 * the input (v2 memory.max or v1 memory.limit_in_bytes, the order
 * memlimit.h says they are read in), and when (b / 2) is odd the file after
 * it also exists, holding a valid decoy limit that must change nothing.
 * memlimit.h promises 0, -ENOENT or -EINVAL; 0 with "max" and unlimited as
 * 0; and the byte count itself for a file that is exactly a decimal count
 * (with or without its newline).
 *
 * The rest of the input is also /proc/self/cgroup's text for lw_cgroup_find
 * over that directory, and a counter file's text for lw_cgroup_oom_kills:
 * only the results their header allows, paths below the root, and nothing
 * touched on failure. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "memlimit.h"

#define NFILES 2
static const char *const files[NFILES] = {"memory.max", "memory.limit_in_bytes"};
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
    remove_files();
    rmdir(root);
}

static void make_root(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(root, sizeof(root), "%s/leakwatch-fuzz-cgroup-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
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

/* The input as /proc/self/cgroup's text and as an OOM-kill counter file's. */
static void texts(const uint8_t *data, size_t size)
{
    static lw_cgroup_t cg;
    char *text = fuzz_string(data, size);
    uint64_t kills = 97;
    size_t rlen = strlen(root);
    int rc = lw_cgroup_find(text, root, &cg);

    PROMISE(rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -ENAMETOOLONG);
    if (rc == 0 || rc == -ENOENT) {
        PROMISE(!strncmp(cg.dir, root, rlen) && (cg.dir[rlen] == '\0' || cg.dir[rlen] == '/'));
        PROMISE(!strstr(cg.dir + rlen, "/../"));
        PROMISE(!strncmp(cg.events, cg.dir, strlen(cg.dir)) && cg.events[strlen(cg.dir)] == '/');
        PROMISE(cg.limit < LW_CGROUP_UNLIMITED);
        if (rc == -ENOENT)
            PROMISE(cg.limit == 0);
    }
    rc = lw_cgroup_oom_kills(text, &kills);
    PROMISE(rc == 0 || rc == -ENOENT || rc == -EINVAL);
    if (rc < 0)
        PROMISE(kills == 97);
    free(text);
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
    texts(data + 1, size - 1);
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

/* memlimit: the process's cgroup and its limit over fixture trees (v1, v2,
 * nested, unlimited, missing, malformed), OOM-kill counts, the trend, the ETA. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memlimit.h"

static const char *fixtures(void)
{
    const char *d = getenv("LW_MEMLIMIT_FIXTURES");
    return d ? d : "tests/unit/memlimit";
}

static int limit_of(const char *tree, uint64_t *limit)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", fixtures(), tree);
    return lw_cgroup_limit(path, limit);
}

/* lw_cgroup_find over fixture tree `tree` with /proc/self/cgroup's `self`. */
static int find_in(const char *tree, const char *self, lw_cgroup_t *cg)
{
    char root[512];
    snprintf(root, sizeof(root), "%s/%s", fixtures(), tree);
    return lw_cgroup_find(self, root, cg);
}

/* The fixture path `tree`/`rel`, for comparing with what find filled in. */
static const char *fixture_path(const char *tree, const char *rel)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s%s", fixtures(), tree, rel);
    return path;
}

/* The OOM kills counted in the events file find named. */
static int kills_of(const lw_cgroup_t *cg, uint64_t *kills)
{
    char text[256];
    FILE *f = fopen(cg->events, "r");
    size_t n;

    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return lw_cgroup_oom_kills(text, kills);
}

static void test_cgroup_limit_of_one_directory(void **state)
{
    uint64_t limit = 7;

    (void)state;
    assert_int_equal(limit_of("v2", &limit), 0);
    assert_int_equal(limit, UINT64_C(1) << 30);
    assert_int_equal(limit_of("v2max", &limit), 0);
    assert_int_equal(limit, 0); /* "max": no limit */
    assert_int_equal(limit_of("v1flat", &limit), 0);
    assert_int_equal(limit, UINT64_C(256) << 20);
    assert_int_equal(limit_of("v1unlimited/memory", &limit), 0);
    assert_int_equal(limit, 0); /* v1's page-aligned "unlimited" */
}

static void test_cgroup_missing_and_malformed(void **state)
{
    uint64_t limit = 7;

    (void)state;
    assert_int_equal(limit_of("no-such-tree", &limit), -ENOENT);
    assert_int_equal(limit, 7);
    assert_int_equal(limit_of("bad", &limit), -EINVAL);
    assert_int_equal(limit, 7);
}

static void test_cgroup_v1_and_v2_at_the_root(void **state)
{
    static lw_cgroup_t cg;

    (void)state;
    assert_int_equal(find_in("v2", "0::/\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(1) << 30);
    assert_string_equal(cg.dir, fixture_path("v2", ""));
    assert_string_equal(cg.events, fixture_path("v2", "/memory.events"));
    assert_int_equal(find_in("v2max", "0::/\n", &cg), 0);
    assert_int_equal(cg.limit, 0);
    /* v1: the memory hierarchy is root/memory, or root itself */
    assert_int_equal(find_in("v1set", "4:memory:/\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(512) << 20);
    assert_string_equal(cg.events, fixture_path("v1set", "/memory/memory.oom_control"));
    assert_int_equal(find_in("v1flat", "4:memory:/\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(256) << 20);
    assert_int_equal(find_in("v1unlimited", "4:memory:/\n", &cg), 0);
    assert_int_equal(cg.limit, 0);
}

static void test_cgroup_v2_nested_service(void **state)
{
    static lw_cgroup_t cg;
    uint64_t kills = 0;

    (void)state;
    /* a systemd service with MemoryMax=512M under a slice without a limit */
    assert_int_equal(find_in("v2tree", "0::/system.slice/app.service\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(512) << 20);
    assert_string_equal(cg.dir, fixture_path("v2tree", "/system.slice/app.service"));
    assert_string_equal(cg.events, fixture_path("v2tree", "/system.slice/app.service/memory.events"));
    assert_int_equal(kills_of(&cg, &kills), 0);
    assert_int_equal(kills, 2);
}

static void test_cgroup_v1_nested_service_on_a_hybrid_host(void **state)
{
    static const char *const selves[] = {
        /* the v1 memory line wins over the v2 one, whichever comes first */
        "12:pids:/system.slice/app.service\n4:cpu,memory:/system.slice/app.service\n0::/user.slice\n",
        "0::/user.slice\n9:memory:/system.slice/app.service\n1:name=systemd:/x",
    };
    static lw_cgroup_t cg;
    uint64_t kills = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(selves) / sizeof(selves[0]); i++) {
        assert_int_equal(find_in("v1tree", selves[i], &cg), 0);
        assert_int_equal(cg.limit, UINT64_C(512) << 20);
        assert_string_equal(cg.dir, fixture_path("v1tree", "/memory/system.slice/app.service"));
        assert_int_equal(kills_of(&cg, &kills), 0); /* memory.oom_control */
        assert_int_equal(kills, 5);
    }
}

static void test_cgroup_a_parent_limit_bounds_its_children(void **state)
{
    static lw_cgroup_t cg;

    (void)state;
    /* 1 GiB set on the service, 256 MiB on its slice: the slice's is met first */
    assert_int_equal(find_in("v2tree", "0::/limited.slice/big.service\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(256) << 20);
    /* v1: unlimited on the child, 256 MiB on its parent */
    assert_int_equal(find_in("v1tree", "4:memory:/limited/child\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(256) << 20);
}

static void test_cgroup_unlimited_all_the_way(void **state)
{
    static lw_cgroup_t cg;

    (void)state;
    assert_int_equal(find_in("v2tree", "0::/free.slice/web.service\n", &cg), 0);
    assert_int_equal(cg.limit, 0);
}

static void test_cgroup_missing_directories_and_files(void **state)
{
    static lw_cgroup_t cg;

    (void)state;
    /* a directory that is not there (a container seeing its own cgroup as
     * the root): the hierarchy's root stands in */
    assert_int_equal(find_in("v1tree", "4:memory:/docker/0123abcd\n", &cg), 0);
    assert_string_equal(cg.dir, fixture_path("v1tree", "/memory"));
    assert_int_equal(cg.limit, 0);
    assert_int_equal(find_in("v2", "0::/docker/0123abcd\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(1) << 30);
    /* no limit file anywhere: -ENOENT, the cgroup still named */
    assert_int_equal(find_in("v2tree", "0::/nofiles.slice/quiet.service\n", &cg), -ENOENT);
    assert_string_equal(cg.dir, fixture_path("v2tree", "/nofiles.slice/quiet.service"));
    assert_string_equal(cg.events,
                        fixture_path("v2tree", "/nofiles.slice/quiet.service/memory.events"));
    assert_int_equal(cg.limit, 0);
    assert_int_equal(find_in("no-such-tree", "0::/\n", &cg), -ENOENT);
}

static void test_cgroup_malformed_lines_and_files(void **state)
{
    static lw_cgroup_t cg;
    char root[LW_CGROUP_PATH_MAX + 16];

    (void)state;
    /* lines that are not ID:CONTROLLERS:/PATH are skipped */
    assert_int_equal(find_in("v2tree", "garbage\n4:memory\n::\n7:memory:relative\n3:memoryless:/x\n"
                                       "0::/system.slice/app.service\n", &cg), 0);
    assert_int_equal(cg.limit, UINT64_C(512) << 20);
    assert_string_equal(cg.dir, fixture_path("v2tree", "/system.slice/app.service"));
    /* nothing usable, or a path climbing out: the root */
    assert_int_equal(find_in("v2", "", &cg), 0);
    assert_string_equal(cg.dir, fixture_path("v2", ""));
    assert_int_equal(find_in("v2tree", "0::/system.slice/../../..\n", &cg), -ENOENT);
    assert_string_equal(cg.dir, fixture_path("v2tree", ""));
    /* a malformed limit on the way up */
    assert_int_equal(find_in("v2tree", "0::/bad.slice/x.service\n", &cg), -EINVAL);
    assert_int_equal(find_in("bad", "0::/\n", &cg), -EINVAL);
    /* a root too long for a path */
    memset(root, 'r', sizeof(root) - 1);
    root[sizeof(root) - 1] = '\0';
    assert_int_equal(lw_cgroup_find("0::/\n", root, &cg), -ENAMETOOLONG);
}

static void test_cgroup_oom_kills(void **state)
{
    uint64_t kills = 7;

    (void)state;
    assert_int_equal(lw_cgroup_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n", &kills), 0);
    assert_int_equal(kills, 5);
    assert_int_equal(lw_cgroup_oom_kills("low 0\nhigh 0\nmax 1\noom 1\noom_kill 12", &kills), 0);
    assert_int_equal(kills, 12);
    kills = 7;
    assert_int_equal(lw_cgroup_oom_kills("oom_kill_disable 1\nunder_oom 0\n", &kills), -ENOENT);
    assert_int_equal(lw_cgroup_oom_kills("", &kills), -ENOENT);
    assert_int_equal(lw_cgroup_oom_kills("oom_kill lots\n", &kills), -EINVAL);
    assert_int_equal(lw_cgroup_oom_kills("oom_kill 123456789012345678901234567890\n", &kills),
                     -EINVAL);
    assert_int_equal(kills, 7);
}

static void test_trend_is_robust_to_outliers(void **state)
{
    double x[20], y[20];

    (void)state;
    for (int i = 0; i < 20; i++) {
        x[i] = i;
        y[i] = 1000 + 50.0 * i;
    }
    assert_true(lw_trend_slope(x, y, 20) == 50.0);
    y[3] = 1e9; /* a wild reading */
    y[11] = -1e9;
    double s = lw_trend_slope(x, y, 20);
    assert_true(s > 45.0 && s < 55.0);
    assert_true(lw_trend_slope(x, y, 1) == 0.0);
    double flat[5] = {7, 7, 7, 7, 7}, same_x[5] = {1, 1, 1, 1, 1};
    assert_true(lw_trend_slope(x, flat, 5) == 0.0);
    assert_true(lw_trend_slope(same_x, y, 5) == 0.0);
}

static void test_oom_eta(void **state)
{
    (void)state;
    assert_int_equal(lw_oom_eta(100, 0, 5.0), 0);      /* no limit */
    assert_int_equal(lw_oom_eta(100, 1000, 0.0), 0);   /* not growing */
    assert_int_equal(lw_oom_eta(100, 1000, -3.0), 0);  /* shrinking */
    assert_int_equal(lw_oom_eta(100, 1000, 10.0), 90);
    assert_int_equal(lw_oom_eta(1000, 1000, 10.0), 1); /* there */
    assert_int_equal(lw_oom_eta(999, 1000, 1e6), 1);
}

/* One row per case: what is known, and the limit that must be chosen. */
static void test_memlimit_choose_takes_the_first_known_in_order(void **state)
{
    static const struct {
        lw_limit_readings_t in;
        lw_limit_t want;
    } cases[] = {
        {{false, 0, 0, 0, 0}, {0, false, LW_LIMIT_NONE}},
        {{false, 100, 200, 300, 400}, {100, false, LW_LIMIT_FROM_OPTION}},
        {{false, 0, 200, 300, 400}, {200, false, LW_LIMIT_FROM_RELOAD_ON_RSS}},
        {{false, 0, 0, 300, 400}, {300, false, LW_LIMIT_FROM_EVIL_RELOAD_ON_RSS}},
        {{false, 0, 0, 0, 400}, {400, true, LW_LIMIT_FROM_CGROUP}},
        {{true, 100, 200, 300, 400}, {0, false, LW_LIMIT_NONE}}, /* off wins */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lw_limit_t got = lw_memlimit_choose(&cases[i].in);
        assert_int_equal(got.bytes, cases[i].want.bytes);
        assert_int_equal(got.shared, cases[i].want.shared);
        assert_int_equal(got.source, cases[i].want.source);
    }
    assert_string_equal(lw_memlimit_source_name(LW_LIMIT_FROM_CGROUP), "cgroup");
    assert_string_equal(lw_memlimit_source_name(LW_LIMIT_FROM_RELOAD_ON_RSS), "--reload-on-rss");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cgroup_limit_of_one_directory),
        cmocka_unit_test(test_cgroup_missing_and_malformed),
        cmocka_unit_test(test_cgroup_v1_and_v2_at_the_root),
        cmocka_unit_test(test_cgroup_v2_nested_service),
        cmocka_unit_test(test_cgroup_v1_nested_service_on_a_hybrid_host),
        cmocka_unit_test(test_cgroup_a_parent_limit_bounds_its_children),
        cmocka_unit_test(test_cgroup_unlimited_all_the_way),
        cmocka_unit_test(test_cgroup_missing_directories_and_files),
        cmocka_unit_test(test_cgroup_malformed_lines_and_files),
        cmocka_unit_test(test_cgroup_oom_kills),
        cmocka_unit_test(test_trend_is_robust_to_outliers),
        cmocka_unit_test(test_oom_eta),
        cmocka_unit_test(test_memlimit_choose_takes_the_first_known_in_order),
    };
    return cmocka_run_group_tests_name("memlimit", tests, NULL, NULL);
}

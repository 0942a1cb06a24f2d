/* sites: interning, the overflow site, dirty-list deltas that lose nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "ring.h"
#include "sites.h"

static lw_sites_t table;
static void *mem;

static int setup_small(void **state)
{
    (void)state;
    mem = calloc(1, lw_sites_bytes(8));
    return lw_sites_init(&table, mem, 8);
}

static int teardown(void **state)
{
    (void)state;
    free(mem);
    return 0;
}

static lw_site_key_t key(uint32_t name, int line)
{
    lw_site_key_t k = {.file = name, .func = name + 1, .app_file = name + 2,
                       .app_func = name + 3, .line = line, .app_line = line + 1};
    return k;
}

static lw_weight_t weight(int64_t bytes, int64_t count)
{
    lw_weight_t w = {bytes, count};
    return w;
}

static void test_sites_bytes_and_init_validate(void **state)
{
    lw_sites_t t;
    char buf[16];

    (void)state;
    assert_int_equal(lw_sites_bytes(1), 0);
    assert_int_equal(lw_sites_bytes((1u << 24) + 1), 0);
    assert_true(lw_sites_bytes(2) > 0);
    assert_int_equal(lw_sites_init(&t, NULL, 8), -EINVAL);
    assert_int_equal(lw_sites_init(&t, buf, 1), -EINVAL);
}

static void test_sites_intern_finds_the_same_site(void **state)
{
    uint32_t a, b, c;
    lw_site_key_t k1 = key(0x1000, 10), k2 = key(0x1000, 11);

    (void)state;
    assert_int_equal(lw_sites_intern_hooksafe(&table, &k1, &a), 1);
    assert_int_equal(lw_sites_intern_hooksafe(&table, &k2, &b), 1);
    assert_int_equal(lw_sites_intern_hooksafe(&table, &k1, &c), 0);
    assert_int_equal(a, c);
    assert_int_not_equal(a, b);
    assert_int_not_equal(a, LW_SITE_OVERFLOW);
    assert_int_equal(lw_sites_get(&table, a)->key.line, 10);
    assert_null(lw_sites_get(&table, 7));
}

static void test_sites_every_name_and_line_tells_sites_apart(void **state)
{
    lw_site_key_t base = key(0x100, 7), k;
    uint32_t first, id;

    (void)state;
    assert_int_equal(lw_sites_intern_hooksafe(&table, &base, &first), 1);
    for (int field = 0; field < 6; field++) {
        k = base;
        switch (field) {
        case 0: k.file++; break;
        case 1: k.func++; break;
        case 2: k.app_file++; break;
        case 3: k.app_func++; break;
        case 4: k.line++; break;
        default: k.app_line++; break;
        }
        assert_int_equal(lw_sites_intern_hooksafe(&table, &k, &id), 1);
        assert_int_not_equal(id, first);
    }
    assert_int_equal(lw_sites_intern_hooksafe(&table, &base, &id), 0);
    assert_int_equal(id, first);
}

/* What the master sums as one site "inside libraries called from this
 * line": library sites reached from the same application frame; an
 * application line is only itself. */
static void test_sites_same_rollup_is_the_application_frame(void **state)
{
    /* file, func, app_file, app_func, line, app_line */
    const lw_site_key_t lib = {10, 11, 1, 2, 63, 80};     /* sqlite3/base.py:63 from app:80 */
    const lw_site_key_t lib2 = {12, 13, 1, 2, 517, 80};   /* models/base.py:517 from app:80 */
    const lw_site_key_t other = {12, 13, 1, 2, 517, 81};  /* from app:81 */
    const lw_site_key_t app = {1, 2, 1, 2, 80, 80};       /* app:80 itself */
    const lw_site_key_t none = {12, 13, 0, 0, 517, 0};    /* no application frame */
    const lw_site_key_t func = {12, 13, 1, 3, 517, 80};   /* app:80 of another function */

    (void)state;
    assert_true(lw_site_key_same_rollup(&lib, &lib));
    assert_true(lw_site_key_same_rollup(&lib, &lib2));
    assert_true(lw_site_key_same_rollup(&lib2, &lib));
    assert_false(lw_site_key_same_rollup(&lib, &other));
    assert_false(lw_site_key_same_rollup(&lib, &app));
    assert_false(lw_site_key_same_rollup(&app, &lib));
    assert_true(lw_site_key_same_rollup(&app, &app));
    assert_false(lw_site_key_same_rollup(&lib, &none));
    assert_true(lw_site_key_same_rollup(&none, &none));
    assert_false(lw_site_key_same_rollup(&lib, &func));
}

static void test_sites_full_table_counts_into_the_overflow_site(void **state)
{
    uint32_t s;

    (void)state;
    for (int i = 1; i < 8; i++) {
        lw_site_key_t k = key(0x2000, i);
        assert_int_equal(lw_sites_intern_hooksafe(&table, &k, &s), 1);
    }
    lw_site_key_t extra = key(0x3000, 1);
    assert_int_equal(lw_sites_intern_hooksafe(&table, &extra, &s), 0);
    assert_int_equal(s, LW_SITE_OVERFLOW);
    assert_int_equal(table.overflowed, 1);
    lw_sites_add_hooksafe(&table, s, weight(500, LW_COUNT_ONE));
    assert_int_equal(lw_sites_get(&table, LW_SITE_OVERFLOW)->live_bytes, 500);
    /* known sites are still found when full */
    lw_site_key_t k = key(0x2000, 3);
    assert_int_equal(lw_sites_intern_hooksafe(&table, &k, &s), 0);
    assert_int_not_equal(s, LW_SITE_OVERFLOW);
}

static void test_sites_drain_reports_net_changes_once(void **state)
{
    uint32_t a, b;
    lw_site_delta_t out[8];
    lw_site_key_t ka = key(0x10, 1), kb = key(0x20, 2);

    (void)state;
    lw_sites_intern_hooksafe(&table, &ka, &a);
    lw_sites_intern_hooksafe(&table, &kb, &b);
    lw_sites_add_hooksafe(&table, a, weight(100, 2));
    lw_sites_add_hooksafe(&table, a, weight(50, 1));
    lw_sites_add_hooksafe(&table, b, weight(70, 1));
    lw_sites_sub_hooksafe(&table, b, weight(70, 1)); /* b came back: no delta */
    assert_int_equal(table.ndirty, 2);
    assert_true(lw_sites_changed(&table));
    assert_int_equal(lw_sites_drain(&table, out, 8), 1);
    assert_false(lw_sites_changed(&table)); /* what the engine names no endpoint for */
    assert_int_equal(out[0].site, a);
    assert_int_equal(out[0].bytes, 150);
    assert_int_equal(out[0].count, 3);
    assert_int_equal(lw_sites_drain(&table, out, 8), 0);
    lw_sites_sub_hooksafe(&table, a, weight(100, 2));
    assert_int_equal(lw_sites_drain(&table, out, 8), 1);
    assert_int_equal(out[0].bytes, -100);
    assert_int_equal(lw_sites_get(&table, a)->samples, 2);
}

static void test_sites_drain_in_small_batches_loses_nothing(void **state)
{
    void *big = calloc(1, lw_sites_bytes(1000));
    lw_sites_t t;
    lw_site_delta_t out[7];
    int64_t total = 0;
    size_t n, calls = 0;

    (void)state;
    assert_int_equal(lw_sites_init(&t, big, 1000), 0);
    for (int i = 0; i < 500; i++) {
        uint32_t s;
        lw_site_key_t k = key(0x5000, i);
        lw_sites_intern_hooksafe(&t, &k, &s);
        lw_sites_add_hooksafe(&t, s, weight(i + 1, 1));
    }
    while ((n = lw_sites_drain(&t, out, 7)) > 0) {
        for (size_t i = 0; i < n; i++)
            total += out[i].bytes;
        calls++;
    }
    assert_int_equal(total, 500 * 501 / 2);
    assert_int_equal(calls, (500 + 6) / 7);
    assert_int_equal(t.ndirty, 0);
    free(big);
}

static void test_sites_unpublish_gives_a_delta_back(void **state)
{
    uint32_t a;
    lw_site_delta_t out[4];
    lw_site_key_t ka = key(0x40, 4);

    (void)state;
    lw_sites_intern_hooksafe(&table, &ka, &a);
    lw_sites_add_hooksafe(&table, a, weight(300, 3));
    assert_int_equal(lw_sites_drain(&table, out, 4), 1);
    lw_sites_unpublish(&table, &out[0]); /* the ring was full */
    assert_true(lw_sites_changed(&table));
    lw_sites_add_hooksafe(&table, a, weight(20, 1));
    assert_int_equal(lw_sites_drain(&table, out, 4), 1);
    assert_int_equal(out[0].bytes, 320); /* coalesced: nothing lost */
    assert_int_equal(out[0].count, 4);
}

/* What the cyclic collector freed is said apart in the delta, part of its
 * fall, once; a delta given back keeps it. */
static void test_sites_what_the_collector_freed_is_said_apart(void **state)
{
    uint32_t a;
    lw_site_delta_t out[4];
    lw_site_key_t ka = key(0x50, 5);

    (void)state;
    lw_sites_intern_hooksafe(&table, &ka, &a);
    lw_sites_add_hooksafe(&table, a, weight(1000, 10));
    assert_int_equal(lw_sites_drain(&table, out, 4), 1);
    assert_int_equal(out[0].collected, 0);
    lw_sites_add_hooksafe(&table, a, weight(100, 1));
    lw_sites_collected_hooksafe(&table, a, weight(600, 6));
    lw_sites_sub_hooksafe(&table, a, weight(50, 1));
    assert_int_equal(lw_sites_drain(&table, out, 4), 1);
    assert_int_equal(out[0].bytes, -550);
    assert_int_equal(out[0].collected, 600);
    lw_sites_unpublish(&table, &out[0]); /* the ring was full */
    lw_sites_add_hooksafe(&table, a, weight(10, 1));
    assert_int_equal(lw_sites_drain(&table, out, 4), 1);
    assert_int_equal(out[0].bytes, -540);
    assert_int_equal(out[0].collected, 600);
    lw_sites_add_hooksafe(&table, a, weight(10, 1));
    assert_int_equal(lw_sites_drain(&table, out, 4), 1);
    assert_int_equal(out[0].collected, 0); /* said once */
}

/* The engine's publishing loop against a ring that is mostly full: what the
 * ring refuses stays in the table and coalesces; the consumer ends up with
 * exactly what was allocated. */
static void test_sites_full_ring_loses_nothing(void **state)
{
    enum { SITES = 40, ROUNDS = 2000 };
    void *tmem = calloc(1, lw_sites_bytes(64));
    lw_ring_t *ring = calloc(1, lw_ring_bytes(8));
    lw_sites_t t;
    lw_site_delta_t out[16];
    lw_record_t got[8];
    int64_t added[SITES] = {0}, received[SITES] = {0};
    uint32_t ids[SITES];
    uint64_t x = 12345;

    (void)state;
    assert_int_equal(lw_sites_init(&t, tmem, 64), 0);
    assert_int_equal(lw_ring_init(ring, 8), 0);
    for (int i = 0; i < SITES; i++) {
        lw_site_key_t k = key(0x9000, i);
        lw_sites_intern_hooksafe(&t, &k, &ids[i]);
    }
    for (int round = 0; round < ROUNDS + 50; round++) {
        if (round < ROUNDS) { /* a request: a few sites change */
            for (int j = 0; j < 3; j++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                int i = (int)((x >> 33) % SITES);
                int64_t b = (int64_t)((x >> 13) % 2000) - 500;
                lw_sites_add_hooksafe(&t, ids[i], weight(b, 1));
                added[i] += b;
            }
        }
        size_t n;
        int full = 0;
        while (!full && (n = lw_sites_drain(&t, out, 16)) > 0) {
            for (size_t d = 0; d < n; d++) {
                lw_record_t rec = {.kind = LW_REC_DELTA, .id = out[d].site};
                rec.u.delta.bytes = out[d].bytes;
                if (full || lw_ring_push(ring, &rec, 1) < 0) {
                    full = 1;
                    lw_sites_unpublish(&t, &out[d]);
                }
            }
        }
        if (round % 3 == 0 || round >= ROUNDS) { /* a slow master */
            uint64_t m = lw_ring_pop(ring, got, 8);
            for (uint64_t r = 0; r < m; r++) {
                for (int i = 0; i < SITES; i++)
                    if (ids[i] == got[r].id)
                        received[i] += got[r].u.delta.bytes;
            }
        }
    }
    for (int i = 0; i < SITES; i++)
        assert_int_equal(received[i], added[i]);
    free(ring);
    free(tmem);
}

/* The index starts small and grows in place (index.h); sites keep their
 * ids across growths and are found again after them. */
static void test_sites_index_grows_as_used(void **state)
{
    void *big = calloc(1, lw_sites_bytes(4096));
    lw_sites_t t;
    uint32_t ids[3000];

    (void)state;
    assert_int_equal(lw_sites_init(&t, big, 4096), 0);
    assert_int_equal(t.slots, 1024);
    for (int i = 0; i < 3000; i++) {
        lw_site_key_t k = key(0x7000, i);
        assert_int_equal(lw_sites_intern_hooksafe(&t, &k, &ids[i]), 1);
        assert_int_equal(ids[i], (uint32_t)i + 1);
        if (i + 1 == 512) {
            assert_int_equal(t.slots, 1024);
            for (uint32_t s = 1024; s < 2 * 4096; s++)
                assert_int_equal(t.index[s], 0);
        }
        if (i + 1 == 513)
            assert_int_equal(t.slots, 2048);
    }
    assert_int_equal(t.slots, 8192);
    for (int i = 0; i < 3000; i++) {
        uint32_t s;
        lw_site_key_t k = key(0x7000, i);
        assert_int_equal(lw_sites_intern_hooksafe(&t, &k, &s), 0);
        assert_int_equal(s, ids[i]);
    }
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sites_bytes_and_init_validate),
        cmocka_unit_test(test_sites_same_rollup_is_the_application_frame),
        cmocka_unit_test_setup_teardown(test_sites_every_name_and_line_tells_sites_apart,
                                        setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_sites_intern_finds_the_same_site, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_sites_full_table_counts_into_the_overflow_site,
                                        setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_sites_drain_reports_net_changes_once, setup_small,
                                        teardown),
        cmocka_unit_test(test_sites_drain_in_small_batches_loses_nothing),
        cmocka_unit_test(test_sites_full_ring_loses_nothing),
        cmocka_unit_test(test_sites_index_grows_as_used),
        cmocka_unit_test_setup_teardown(test_sites_unpublish_gives_a_delta_back, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sites_what_the_collector_freed_is_said_apart,
                                        setup_small, teardown),
    };
    return cmocka_run_group_tests_name("sites", tests, NULL, NULL);
}

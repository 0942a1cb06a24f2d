/* ptrmap: set semantics against a reference, caps, an exact filter, moves. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ptrmap.h"

struct fixture {
    lw_ptrmap_t map;
    void *mem;
};

static lw_ptrmap_t *new_map(uint64_t capacity, void **mem)
{
    static lw_ptrmap_t map;

    *mem = calloc(1, lw_ptrmap_bytes(capacity));
    assert_non_null(*mem);
    assert_int_equal(lw_ptrmap_init(&map, *mem, capacity), 0);
    return &map;
}

static uintptr_t key_of(uint64_t i)
{
    return (uintptr_t)(0x7f0000000000ULL + i * 16); /* aligned like allocator blocks */
}

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void test_ptrmap_bytes_rejects_bad_capacities(void **state)
{
    lw_ptrmap_t map;
    char mem[64];

    (void)state;
    assert_int_equal(lw_ptrmap_bytes(0), 0);
    assert_int_equal(lw_ptrmap_bytes(4), 0);
    assert_int_equal(lw_ptrmap_bytes(100), 0);
    assert_int_equal(lw_ptrmap_bytes(8), 8 * sizeof(lw_ptr_slot_t) + 8);
    assert_int_equal(lw_ptrmap_init(&map, NULL, 8), -EINVAL);
    assert_int_equal(lw_ptrmap_init(&map, mem, 12), -EINVAL);
}

static void test_ptrmap_put_take_and_replace(void **state)
{
    void *mem;
    lw_ptrmap_t *m = new_map(64, &mem);
    uint64_t v = 0, old = 0;

    (void)state;
    assert_false(lw_ptrmap_maybe_hooksafe(m, key_of(1)));
    assert_int_equal(lw_ptrmap_put_hooksafe(m, key_of(1), lw_ptrmap_pack(100, 7), NULL), 0);
    assert_true(lw_ptrmap_maybe_hooksafe(m, key_of(1)));
    assert_int_equal(lw_ptrmap_put_hooksafe(m, key_of(1), lw_ptrmap_pack(200, 9), &old), 1);
    assert_int_equal(lw_ptrmap_size_of(old), 100);
    assert_int_equal(lw_ptrmap_site_of(old), 7);
    assert_int_equal(m->used, 1);
    assert_true(lw_ptrmap_take_hooksafe(m, key_of(1), &v));
    assert_int_equal(lw_ptrmap_size_of(v), 200);
    assert_int_equal(lw_ptrmap_site_of(v), 9);
    assert_false(lw_ptrmap_take_hooksafe(m, key_of(1), &v));
    assert_int_equal(m->used, 0);
    assert_int_equal(lw_ptrmap_put_hooksafe(m, 0, 1, NULL), -EINVAL);
    assert_false(lw_ptrmap_take_hooksafe(m, 0, &v));
    free(mem);
}

static void test_ptrmap_find_rewrites_in_place(void **state)
{
    void *mem;
    lw_ptrmap_t *m = new_map(64, &mem);
    uint64_t *v, got = 0;

    (void)state;
    assert_null(lw_ptrmap_find_hooksafe(m, key_of(3)));
    /* keys sharing a cluster: the one asked for is found, not a neighbour */
    for (uint64_t i = 1; i <= 40; i++)
        assert_int_equal(lw_ptrmap_put_hooksafe(m, key_of(i), lw_ptrmap_pack(i, 1), NULL), 0);
    v = lw_ptrmap_find_hooksafe(m, key_of(17));
    assert_non_null(v);
    assert_int_equal(lw_ptrmap_size_of(*v), 17);
    *v = lw_ptrmap_pack(17, 5);
    assert_null(lw_ptrmap_find_hooksafe(m, key_of(41)));
    assert_null(lw_ptrmap_find_hooksafe(m, 0));
    assert_int_equal(m->used, 40);
    assert_true(lw_ptrmap_take_hooksafe(m, key_of(17), &got));
    assert_int_equal(lw_ptrmap_site_of(got), 5);
    assert_null(lw_ptrmap_find_hooksafe(m, key_of(17)));
    free(mem);
}

static void test_ptrmap_pack_saturates_huge_blocks(void **state)
{
    uint64_t v = lw_ptrmap_pack(UINT64_C(1) << 50, LW_PTRMAP_SITE_MAX);

    (void)state;
    assert_int_equal(lw_ptrmap_size_of(v), LW_PTRMAP_BLOCK_MAX);
    assert_int_equal(lw_ptrmap_site_of(v), LW_PTRMAP_SITE_MAX);
}

static void test_ptrmap_refuses_inserts_past_three_quarters(void **state)
{
    void *mem;
    lw_ptrmap_t *m = new_map(64, &mem);
    uint64_t i;

    (void)state;
    for (i = 0; i < 48; i++)
        assert_int_equal(lw_ptrmap_put_hooksafe(m, key_of(i), i, NULL), 0);
    assert_int_equal(lw_ptrmap_put_hooksafe(m, key_of(i), i, NULL), -ENOSPC);
    assert_int_equal(m->used, 48);
    /* a present key can still be replaced when full */
    assert_int_equal(lw_ptrmap_put_hooksafe(m, key_of(3), 99, NULL), 1);
    for (i = 0; i < 48; i++)
        assert_true(lw_ptrmap_take_hooksafe(m, key_of(i), NULL));
    assert_int_equal(m->used, 0);
    free(mem);
}

/* Random puts and takes against a reference array; clustered keys stress
 * backward-shift deletion; the filter must end exact: no bit without a key. */
static void test_ptrmap_matches_a_reference_under_churn(void **state)
{
    enum { KEYS = 3000, CAP = 4096, OPS = 200000 };
    void *mem;
    lw_ptrmap_t *m = new_map(CAP, &mem);
    uint64_t *ref = calloc(KEYS, sizeof(uint64_t)); /* 0 = absent, else value */
    uint64_t x = 88172645463325252ULL, live = 0;

    (void)state;
    for (int op = 0; op < OPS; op++) {
        uint64_t k = next(&x) % KEYS, v = 0;
        if (next(&x) & 1) {
            uint64_t val = (next(&x) & 0xffffff) + 1;
            int rc = lw_ptrmap_put_hooksafe(m, key_of(k), val, NULL);
            if (rc == -ENOSPC) {
                assert_int_equal(ref[k], 0);
                continue;
            }
            assert_int_equal(rc, ref[k] ? 1 : 0);
            live += ref[k] ? 0 : 1;
            ref[k] = val;
        }
        else {
            bool found = lw_ptrmap_take_hooksafe(m, key_of(k), &v);
            assert_int_equal(found, ref[k] != 0);
            if (found) {
                assert_int_equal(v, ref[k]);
                ref[k] = 0;
                live--;
            }
        }
        assert_int_equal(m->used, live);
    }
    for (uint64_t k = 0; k < KEYS; k++) {
        if (ref[k])
            assert_true(lw_ptrmap_maybe_hooksafe(m, key_of(k)));
        if (ref[k])
            assert_true(lw_ptrmap_take_hooksafe(m, key_of(k), NULL));
    }
    for (uint64_t w = 0; w < CAP / 8; w++)
        assert_int_equal(m->filter[w], 0);
    free(ref);
    free(mem);
}

static void test_ptrmap_filter_rejects_most_absent_keys(void **state)
{
    void *mem;
    lw_ptrmap_t *m = new_map(4096, &mem);
    int maybe = 0;

    (void)state;
    for (uint64_t i = 0; i < 300; i++) /* a typical live sample count */
        lw_ptrmap_put_hooksafe(m, key_of(i * 977), 1, NULL);
    for (uint64_t i = 0; i < 100000; i++)
        maybe += lw_ptrmap_maybe_hooksafe(m, key_of(1000000 + i));
    /* expected false positives: 300 / 32768 bits, about 0.9% */
    assert_true(maybe < 2000);
    free(mem);
}

static void test_ptrmap_move_keeps_every_entry(void **state)
{
    void *small_mem, *big_mem;
    lw_ptrmap_t small, big, *tmp = new_map(64, &small_mem);
    uint64_t v;

    (void)state;
    small = *tmp;
    for (uint64_t i = 0; i < 40; i++)
        lw_ptrmap_put_hooksafe(&small, key_of(i), i + 1, NULL);
    tmp = new_map(128, &big_mem);
    big = *tmp;
    assert_int_equal(lw_ptrmap_move(&big, &small), 0);
    assert_int_equal(small.used, 0);
    assert_int_equal(big.used, 40);
    assert_false(lw_ptrmap_maybe_hooksafe(&small, key_of(5)));
    for (uint64_t i = 0; i < 40; i++) {
        assert_true(lw_ptrmap_take_hooksafe(&big, key_of(i), &v));
        assert_int_equal(v, i + 1);
    }
    /* a target that cannot hold them is refused, nothing moves */
    for (uint64_t i = 0; i < 50; i++)
        lw_ptrmap_put_hooksafe(&big, key_of(i), i + 1, NULL);
    assert_int_equal(lw_ptrmap_move(&small, &big), -ENOSPC);
    assert_int_equal(big.used, 50);
    assert_int_equal(small.used, 0);
    free(small_mem);
    free(big_mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ptrmap_bytes_rejects_bad_capacities),
        cmocka_unit_test(test_ptrmap_put_take_and_replace),
        cmocka_unit_test(test_ptrmap_find_rewrites_in_place),
        cmocka_unit_test(test_ptrmap_pack_saturates_huge_blocks),
        cmocka_unit_test(test_ptrmap_refuses_inserts_past_three_quarters),
        cmocka_unit_test(test_ptrmap_matches_a_reference_under_churn),
        cmocka_unit_test(test_ptrmap_filter_rejects_most_absent_keys),
        cmocka_unit_test(test_ptrmap_move_keeps_every_entry),
    };
    return cmocka_run_group_tests_name("ptrmap", tests, NULL, NULL);
}

/* holdchain: the chains of holders a walk builds from what it reports. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "holdchain.h"

/* A made-up heap: object i lives at OBJ(i), of kinds[i] and types[i]. */
#define OBJECTS 20000
#define OBJ(i) ((uintptr_t)0x100000 + (uintptr_t)(i) * 64)
#define BLOCK(i) ((uintptr_t)0x80000000 + (uintptr_t)(i) * 4096)

static lw_hold_kind_t kinds[OBJECTS];
static uintptr_t types[OBJECTS];
static size_t asked; /* kinds asked of the ops */
static lw_chains_t c;

static size_t index_of(uintptr_t o)
{
    assert_true(o >= OBJ(0) && o < OBJ(OBJECTS) && (o - OBJ(0)) % 64 == 0);
    return (o - OBJ(0)) / 64;
}

static lw_hold_kind_t kind(uintptr_t o, void *ctx)
{
    assert_ptr_equal(ctx, &c);
    asked++;
    return kinds[index_of(o)];
}

static uintptr_t type(uintptr_t o, void *ctx)
{
    (void)ctx;
    return types[index_of(o)];
}

static int setup(void **state)
{
    const lw_chain_ops_t ops = {kind, type, &c};

    (void)state;
    for (size_t i = 0; i < OBJECTS; i++) {
        kinds[i] = LW_HOLD_OTHER;
        types[i] = 0x7000 + i; /* each its own type */
    }
    asked = 0;
    lw_chains_init(&c, &ops);
    return 0;
}

/* The number of empty slots in the hash (a probe ends at one). */
static size_t empty_slots(void)
{
    size_t n = 0;

    for (size_t i = 0; i < LW_CHAIN_SLOTS; i++)
        n += c.h[i].obj == 0;
    return n;
}

static void test_holdchain_a_block_is_found_in_its_range_only(void **state)
{
    (void)state;
    assert_true(lw_chains_add(&c, BLOCK(1), BLOCK(1) + 100));
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 32));
    assert_false(lw_chains_add(&c, BLOCK(2), BLOCK(2))); /* empty */
    assert_true(lw_chains_in_block(&c, BLOCK(0)));
    assert_true(lw_chains_in_block(&c, BLOCK(0) + 31));
    assert_false(lw_chains_in_block(&c, BLOCK(0) + 32));
    assert_false(lw_chains_in_block(&c, BLOCK(0) - 1));
    assert_true(lw_chains_in_block(&c, BLOCK(1) + 99));
    assert_false(lw_chains_in_block(&c, BLOCK(1) + 100));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(1) + 8, OBJ(5));  /* inside: the block's holder */
    lw_chains_block_ref(&c, BLOCK(0) + 40, OBJ(6)); /* past its end: nothing */
    assert_int_equal(c.s[0].depth, 1);
    assert_int_equal(c.s[0].holder[0], OBJ(5));
    assert_int_equal(c.s[1].depth, 0);
    assert_true(c.moved);
    assert_true(lw_chains_is_holder(&c, OBJ(5)));
    assert_false(lw_chains_is_holder(&c, OBJ(6)));
}

static void test_holdchain_overlapping_blocks_are_each_their_own(void **state)
{
    (void)state;
    /* a block inside another's range (merged ranges): each sample gets a
     * holder only for an address inside its own block */
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 1000));
    assert_true(lw_chains_add(&c, BLOCK(0) + 100, BLOCK(0) + 200));
    assert_true(lw_chains_add(&c, BLOCK(0) + 900, BLOCK(0) + 2000));
    assert_int_equal(c.nr, 1);
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0) + 50, OBJ(1));
    lw_chains_block_ref(&c, BLOCK(0) + 150, OBJ(2));
    lw_chains_block_ref(&c, BLOCK(0) + 1500, OBJ(3));
    assert_int_equal(c.s[0].holder[0], OBJ(1)); /* the first came first */
    assert_int_equal(c.s[1].holder[0], OBJ(2));
    assert_int_equal(c.s[2].holder[0], OBJ(3));
    for (size_t i = 3; i < LW_CHAIN_SAMPLES; i++)
        assert_true(lw_chains_add(&c, BLOCK(10 + i), BLOCK(10 + i) + 8));
    assert_false(lw_chains_add(&c, BLOCK(9), BLOCK(9) + 8)); /* full */
}

static void test_holdchain_a_chain_goes_up_to_a_root_and_stops(void **state)
{
    (void)state;
    kinds[1] = LW_HOLD_CONTAINER;
    kinds[2] = LW_HOLD_DICT;
    kinds[3] = LW_HOLD_CLASS;
    kinds[4] = LW_HOLD_MODULE;
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 64));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    lw_chains_holder_ref(&c, OBJ(1), OBJ(2));
    lw_chains_holder_ref(&c, OBJ(2), OBJ(3));
    assert_int_equal(c.s[0].depth, 3);
    assert_true(c.s[0].rooted);
    /* nothing above a root: the module that names the class is not asked */
    asked = 0;
    lw_chains_holder_ref(&c, OBJ(3), OBJ(4));
    assert_int_equal(c.s[0].depth, 3);
    assert_int_equal(asked, 0);
    /* a pass that sees it all again moves nothing */
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    lw_chains_holder_ref(&c, OBJ(1), OBJ(2));
    lw_chains_holder_ref(&c, OBJ(2), OBJ(3));
    assert_false(c.moved);
}

static void test_holdchain_a_better_kind_replaces_and_drops_what_was_above(void **state)
{
    (void)state;
    kinds[1] = LW_HOLD_CONTAINER;
    kinds[2] = LW_HOLD_INSTANCE; /* an object pointing back at the list */
    kinds[3] = LW_HOLD_OTHER;
    kinds[4] = LW_HOLD_CLASS;
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 64));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    lw_chains_holder_ref(&c, OBJ(1), OBJ(2));
    lw_chains_holder_ref(&c, OBJ(2), OBJ(3));
    assert_int_equal(c.s[0].depth, 3);
    /* the class holds the list too: it takes step 1, the rest goes */
    lw_chains_holder_ref(&c, OBJ(1), OBJ(4));
    assert_int_equal(c.s[0].depth, 2);
    assert_int_equal(c.s[0].holder[1], OBJ(4));
    assert_true(c.s[0].rooted);
    assert_false(lw_chains_is_holder(&c, OBJ(2)));
    assert_false(lw_chains_is_holder(&c, OBJ(3)));
    /* an instance is worse than the class: it does not replace it */
    lw_chains_holder_ref(&c, OBJ(1), OBJ(2));
    assert_int_equal(c.s[0].holder[1], OBJ(4));
}

static void test_holdchain_frames_and_cycles_never_hold(void **state)
{
    (void)state;
    kinds[1] = LW_HOLD_CONTAINER;
    kinds[2] = LW_HOLD_FRAME;
    kinds[3] = LW_HOLD_CONTAINER;
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 64));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    lw_chains_holder_ref(&c, OBJ(1), OBJ(2)); /* a running frame's local */
    assert_int_equal(c.s[0].depth, 1);
    lw_chains_holder_ref(&c, OBJ(1), OBJ(3));
    lw_chains_holder_ref(&c, OBJ(3), OBJ(1)); /* the list holds its holder: a cycle */
    lw_chains_holder_ref(&c, OBJ(3), OBJ(3)); /* and itself */
    assert_int_equal(c.s[0].depth, 2);
    assert_int_equal(c.s[0].holder[0], OBJ(1));
    assert_int_equal(c.s[0].holder[1], OBJ(3));
}

static void test_holdchain_a_chain_has_at_most_its_depth(void **state)
{
    (void)state;
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 64));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    for (size_t i = 1; i < 2 * LW_HOLD_DEPTH; i++) /* each of its own type: no fold */
        lw_chains_holder_ref(&c, OBJ(i), OBJ(i + 1));
    assert_int_equal(c.s[0].depth, LW_HOLD_DEPTH);
    assert_int_equal(c.s[0].holder[LW_HOLD_DEPTH - 1], OBJ(LW_HOLD_DEPTH));
    assert_false(c.s[0].rooted);
}

static void test_holdchain_many_folds_leave_empty_slots_and_find_every_holder(void **state)
{
    (void)state;
    /* every sample's chain folds hundreds of times: each fold leaves a
     * tombstone; without the rebuild the hash ran out of empty slots and
     * a probe never ended (a worker hung on make eval's exception chain) */
    for (size_t i = 0; i < OBJECTS; i++)
        types[i] = 0x5000;
    for (size_t s = 0; s < LW_CHAIN_SAMPLES; s++)
        assert_true(lw_chains_add(&c, BLOCK(s), BLOCK(s) + 64));
    lw_chains_pass(&c);
    for (size_t s = 0; s < LW_CHAIN_SAMPLES; s++)
        lw_chains_block_ref(&c, BLOCK(s), OBJ(s * 1000));
    for (size_t step = 0; step < 999; step++) {
        for (size_t s = 0; s < LW_CHAIN_SAMPLES; s++) {
            lw_chains_holder_ref(&c, OBJ(s * 1000 + step), OBJ(s * 1000 + step + 1));
            assert_true(c.gone <= LW_CHAIN_SLOTS / 8);
            assert_true(empty_slots() > 0);
        }
    }
    for (size_t s = 0; s < LW_CHAIN_SAMPLES; s++) {
        assert_int_equal(c.s[s].depth, 1);
        assert_int_equal(c.s[s].holder[0], OBJ(s * 1000 + 999));
        assert_int_equal(c.s[s].more[0], 999);
        assert_true(lw_chains_is_holder(&c, OBJ(s * 1000 + 999)));
        assert_false(lw_chains_is_holder(&c, OBJ(s * 1000 + 998)));
    }
}

static void test_holdchain_a_chain_of_one_type_folds_into_one_step(void **state)
{
    (void)state;
    /* a traceback holding the next, a thousand long, then the exception
     * that holds the newest, then its module */
    for (size_t i = 1; i <= 1000; i++)
        types[i] = 0x5000;
    kinds[1001] = LW_HOLD_INSTANCE;
    kinds[1002] = LW_HOLD_MODULE;
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 64));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    for (size_t i = 1; i <= 1001; i++)
        lw_chains_holder_ref(&c, OBJ(i), OBJ(i + 1));
    assert_int_equal(c.s[0].depth, 3);
    assert_int_equal(c.s[0].holder[0], OBJ(1000));
    assert_int_equal(c.s[0].more[0], 999);
    assert_int_equal(c.s[0].holder[1], OBJ(1001));
    assert_int_equal(c.s[0].holder[2], OBJ(1002));
    assert_true(c.s[0].rooted);
    /* the folded step's earlier objects are no holders any more */
    assert_false(lw_chains_is_holder(&c, OBJ(500)));
    assert_true(lw_chains_is_holder(&c, OBJ(1000)));
}

static void test_holdchain_a_fold_stops_at_its_maximum(void **state)
{
    (void)state;
    types[1] = types[2] = 0x5000;
    assert_true(lw_chains_add(&c, BLOCK(0), BLOCK(0) + 64));
    lw_chains_pass(&c);
    lw_chains_block_ref(&c, BLOCK(0), OBJ(1));
    c.s[0].more[0] = LW_CHAIN_MORE_MAX; /* as if a million were climbed */
    lw_chains_holder_ref(&c, OBJ(1), OBJ(2));
    assert_int_equal(c.s[0].depth, 2); /* a step of its own */
    assert_int_equal(c.s[0].holder[1], OBJ(2));
    assert_int_equal(c.s[0].more[1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_holdchain_a_block_is_found_in_its_range_only, setup),
        cmocka_unit_test_setup(test_holdchain_overlapping_blocks_are_each_their_own, setup),
        cmocka_unit_test_setup(test_holdchain_a_chain_goes_up_to_a_root_and_stops, setup),
        cmocka_unit_test_setup(test_holdchain_a_better_kind_replaces_and_drops_what_was_above,
                               setup),
        cmocka_unit_test_setup(test_holdchain_frames_and_cycles_never_hold, setup),
        cmocka_unit_test_setup(test_holdchain_a_chain_has_at_most_its_depth, setup),
        /* before the long fold below: without the rebuild this one fails an
         * assertion, where the next would hang */
        cmocka_unit_test_setup(test_holdchain_many_folds_leave_empty_slots_and_find_every_holder,
                               setup),
        cmocka_unit_test_setup(test_holdchain_a_chain_of_one_type_folds_into_one_step, setup),
        cmocka_unit_test_setup(test_holdchain_a_fold_stops_at_its_maximum, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

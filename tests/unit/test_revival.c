/* Revival: a block followed through a free list, the decisions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "revival.h"

static int a, b, c; /* three blocks */

static void test_revival_an_array_stack_tells_by_the_block_s_place(void **state)
{
    (void)state;
    /* pushed at depth 3: entry 2 is the block */
    assert_false(lw_revival_popped(3, 3, false, &a, &a));
    /* others pushed on top: still in its place */
    assert_false(lw_revival_popped(7, 3, false, &a, &a));
    /* shallower: handed out */
    assert_true(lw_revival_popped(2, 3, false, &b, &a));
    /* as deep or deeper, another in its place: handed out, others pushed since */
    assert_true(lw_revival_popped(3, 3, false, &b, &a));
    assert_true(lw_revival_popped(5, 3, false, &c, &a));
}

static void test_revival_a_linked_stack_tells_by_its_top_and_depth(void **state)
{
    (void)state;
    assert_false(lw_revival_popped(1, 1, true, &a, &a)); /* on top */
    assert_true(lw_revival_popped(0, 1, true, NULL, &a)); /* emptied */
    assert_true(lw_revival_popped(1, 1, true, &b, &a));   /* popped, another pushed */
    /* deeper: only the top can be read, the block is taken to be there */
    assert_false(lw_revival_popped(4, 1, true, &b, &a));
}

static void test_revival_is_charged_only_where_the_order_is_certain(void **state)
{
    (void)state;
    /* same frame, further on: the revival came on the way */
    assert_true(lw_revival_placed(LW_REVIVAL_SAME, 40, 12));
    /* same frame, at or before the last look: a loop went round */
    assert_false(lw_revival_placed(LW_REVIVAL_SAME, 12, 12));
    assert_false(lw_revival_placed(LW_REVIVAL_SAME, 8, 12));
    /* called from the last look's frame, still at the call or further */
    assert_true(lw_revival_placed(LW_REVIVAL_CALLED, 12, 12));
    assert_true(lw_revival_placed(LW_REVIVAL_CALLED, 20, 12));
    /* called from it after it went back round */
    assert_false(lw_revival_placed(LW_REVIVAL_CALLED, 6, 12));
    /* the last look's frame returned: the nearest known line */
    assert_true(lw_revival_placed(LW_REVIVAL_OTHER, 0, 99));
    /* no Python frame now, or the last look was another thread's: no line */
    assert_false(lw_revival_placed(LW_REVIVAL_UNKNOWN, 99, 0));
}

static void test_revival_a_new_watch_replaces_the_oldest(void **state)
{
    int looks[] = {300, 12, 511, 12, 40};

    (void)state;
    assert_int_equal(lw_revival_oldest(looks, 5), 1); /* the first of the fewest */
    assert_int_equal(lw_revival_oldest(looks, 1), 0);
    looks[1] = 500;
    assert_int_equal(lw_revival_oldest(looks, 5), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revival_an_array_stack_tells_by_the_block_s_place),
        cmocka_unit_test(test_revival_a_linked_stack_tells_by_its_top_and_depth),
        cmocka_unit_test(test_revival_is_charged_only_where_the_order_is_certain),
        cmocka_unit_test(test_revival_a_new_watch_replaces_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

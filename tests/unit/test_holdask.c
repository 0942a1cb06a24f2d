/* holdask: the master's questions what holds a leak, one out per worker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "holdask.h"

static lw_holdask_t h;
static uint32_t lost[LW_HOLDASK_MAX];
static size_t nlost;

static int setup(void **state)
{
    (void)state;
    lw_holdask_init(&h);
    return 0;
}

/* posts wid's next question; returns its local site, or -1 when none goes out */
static int64_t next(uint32_t wid, int64_t pid)
{
    uint32_t local = 0;

    return lw_holdask_next(&h, wid, pid, &local, lost, LW_HOLDASK_MAX, &nlost) ? (int64_t)local : -1;
}

static void test_holdask_one_question_out_per_worker_in_order(void **state)
{
    (void)state;
    assert_int_equal(lw_holdask_want(&h, 10, 2, 200, 5), 0);
    assert_int_equal(lw_holdask_want(&h, 11, 2, 200, 6), 0);
    assert_int_equal(lw_holdask_want(&h, 12, 1, 100, 7), 0);
    assert_int_equal(next(2, 200), 5);
    assert_int_equal(next(2, 200), -1); /* 10 is out: 11 waits */
    assert_int_equal(next(1, 100), 7);  /* another worker's own */
    assert_int_equal(next(3, 300), -1);
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 5), 10);
    assert_int_equal(next(2, 200), 6);
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 6), 11);
    assert_int_equal(lw_holdask_answer(&h, 1, 100, 7), 12);
    assert_int_equal(h.n, 0);
    assert_int_equal(nlost, 0);
}

static void test_holdask_answers_that_answer_nothing_count_for_nothing(void **state)
{
    (void)state;
    assert_int_equal(lw_holdask_want(&h, 10, 2, 200, 5), 0);
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 5), 0); /* not posted yet */
    assert_int_equal(next(2, 200), 5);
    assert_int_equal(lw_holdask_answer(&h, 2, 201, 5), 0); /* another generation's local 5 */
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 4), 0); /* another site */
    assert_int_equal(lw_holdask_answer(&h, 1, 200, 5), 0); /* another worker */
    assert_true(lw_holdask_waiting(&h, 10));
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 5), 10);
    assert_false(lw_holdask_waiting(&h, 10));
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 5), 0); /* said twice */
}

static void test_holdask_a_generation_that_ends_gives_its_questions_back(void **state)
{
    (void)state;
    assert_int_equal(lw_holdask_want(&h, 10, 2, 200, 5), 0);
    assert_int_equal(lw_holdask_want(&h, 11, 2, 200, 6), 0);
    assert_int_equal(lw_holdask_want(&h, 12, 1, 100, 7), 0);
    assert_int_equal(next(2, 200), 5);
    assert_int_equal(next(2, 222), -1); /* worker 2 is pid 222 now */
    assert_int_equal(nlost, 2);
    assert_int_equal(lost[0], 10);
    assert_int_equal(lost[1], 11);
    assert_false(lw_holdask_waiting(&h, 10));
    assert_true(lw_holdask_waiting(&h, 12));
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 5), 0); /* too late */
    /* asked again of the new generation */
    assert_int_equal(lw_holdask_want(&h, 10, 2, 222, 9), 0);
    assert_int_equal(next(2, 222), 9);
    assert_int_equal(nlost, 0);
}

static void test_holdask_refuses_a_site_asked_twice_and_a_full_queue(void **state)
{
    (void)state;
    assert_int_equal(lw_holdask_want(&h, 10, 2, 200, 5), 0);
    assert_int_equal(lw_holdask_want(&h, 10, 1, 100, 3), -EEXIST);
    for (uint32_t i = 1; i < LW_HOLDASK_MAX; i++)
        assert_int_equal(lw_holdask_want(&h, 100 + i, 1 + i % 3, 100, i), 0);
    assert_int_equal(lw_holdask_want(&h, 999, 1, 100, 1), -ENOSPC);
    assert_int_equal(next(2, 200), 5);
    assert_int_equal(lw_holdask_answer(&h, 2, 200, 5), 10);
    assert_int_equal(lw_holdask_want(&h, 999, 1, 100, 1), 0); /* room again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_holdask_one_question_out_per_worker_in_order, setup),
        cmocka_unit_test_setup(test_holdask_answers_that_answer_nothing_count_for_nothing, setup),
        cmocka_unit_test_setup(test_holdask_a_generation_that_ends_gives_its_questions_back, setup),
        cmocka_unit_test_setup(test_holdask_refuses_a_site_asked_twice_and_a_full_queue, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

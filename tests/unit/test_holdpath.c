/* holdpath: what holds a leak, in one line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "holdpath.h"

#define STEP(k, t, key, n) {k, t, key, n, 0}

static void assert_said(const lw_hold_step_t *steps, size_t n, const char *expected)
{
    char text[LW_HOLD_TEXT_MAX];

    assert_int_equal(lw_holdpath_render(steps, n, text, sizeof(text)), strlen(expected));
    assert_string_equal(text, expected);
}

static void test_holdpath_a_class_attribute(void **state)
{
    /* a list in Profiler's __dict__ under "records" */
    const lw_hold_step_t chain[] = {STEP(LW_HOLD_CONTAINER, "list", "", 4644),
                                    STEP(LW_HOLD_DICT, "dict", "records", 12),
                                    STEP(LW_HOLD_CLASS, "Profiler", "__dict__", -1)};

    (void)state;
    assert_said(chain, 3, "Profiler.records (list, 4644 items) <- class Profiler");
}

static void test_holdpath_a_module_global(void **state)
{
    /* a dict in module app's globals under "CACHE" */
    const lw_hold_step_t chain[] = {STEP(LW_HOLD_DICT, "dict", "", 120),
                                    STEP(LW_HOLD_DICT, "dict", "CACHE", 30),
                                    STEP(LW_HOLD_MODULE, "app", "__dict__", -1)};

    (void)state;
    assert_said(chain, 3, "CACHE (dict, 120 items) <- module app");
}

static void test_holdpath_an_instance_in_a_class_attribute(void **state)
{
    /* Registry.default, an instance, whose __dict__ keeps a list under "items" */
    const lw_hold_step_t chain[] = {STEP(LW_HOLD_CONTAINER, "list", "", 9),
                                    STEP(LW_HOLD_DICT, "dict", "items", 2),
                                    STEP(LW_HOLD_INSTANCE, "Registry", "__dict__", -1),
                                    STEP(LW_HOLD_DICT, "dict", "default", 5),
                                    STEP(LW_HOLD_CLASS, "Registry", "__dict__", -1)};

    (void)state;
    assert_said(chain, 5,
                "Registry.items (list, 9 items) <- Registry.default (Registry instance) "
                "<- class Registry");
}

static void test_holdpath_a_default_and_a_walk_that_found_no_root(void **state)
{
    const lw_hold_step_t dflt[] = {STEP(LW_HOLD_CONTAINER, "list", "", 3),
                                   STEP(LW_HOLD_CONTAINER, "tuple", "", 1),
                                   STEP(LW_HOLD_FUNCTION, "remember", "defaults", -1)};
    const lw_hold_step_t cell[] = {STEP(LW_HOLD_CONTAINER, "list", "", 3),
                                   STEP(LW_HOLD_CELL, "cell", "", -1),
                                   STEP(LW_HOLD_CONTAINER, "tuple", "", 1),
                                   STEP(LW_HOLD_FUNCTION, "make.<locals>.record", "closure", -1)};
    const lw_hold_step_t lost[] = {STEP(LW_HOLD_CONTAINER, "list", "", 3),
                                   STEP(LW_HOLD_OTHER, "weird", "", -1)};

    (void)state;
    assert_said(dflt, 3, "(list, 3 items) <- defaults of function remember()");
    assert_said(cell, 4,
                "(list, 3 items) <- (closure cell) <- closure of function make.<locals>.record()");
    assert_said(lost, 2, "(list, 3 items) <- (weird) <- ?");
    assert_said(lost, 0, " <- ?");
}

/* A dict that is an attribute's value, not its holder's namespace (an
 * instance with a managed dict holds its values without one): no fold. */
static void test_holdpath_a_dict_in_an_instance_is_not_its_namespace(void **state)
{
    const lw_hold_step_t chain[] = {STEP(LW_HOLD_DICT, "dict", "", 559),
                                    STEP(LW_HOLD_INSTANCE, "Manager", "", -1),
                                    STEP(LW_HOLD_DICT, "dict", "manager", 40),
                                    STEP(LW_HOLD_CLASS, "Logger", "__dict__", -1)};

    (void)state;
    assert_said(chain, 4, "(dict, 559 items) <- Logger.manager (Manager instance) <- class Logger");
}

/* threading.local: each thread's attributes in a dict of its own, the
 * threads' dicts in one dict of the local's, the local a module global */
static void test_holdpath_a_thread_local(void **state)
{
    const lw_hold_step_t chain[] = {STEP(LW_HOLD_CONTAINER, "list", "", 111),
                                    STEP(LW_HOLD_DICT, "dict", "seen", 1),
                                    STEP(LW_HOLD_DICT, "dict", "", 2),
                                    STEP(LW_HOLD_THREADLOCAL, "_thread._local", "", -1),
                                    STEP(LW_HOLD_DICT, "dict", "STATE", 9),
                                    STEP(LW_HOLD_MODULE, "/srv/app.py", "__dict__", -1)};
    const lw_hold_step_t in_class[] = {STEP(LW_HOLD_DICT, "dict", "", 3),
                                       STEP(LW_HOLD_DICT, "dict", "cache", 1),
                                       STEP(LW_HOLD_DICT, "dict", "", 1),
                                       STEP(LW_HOLD_THREADLOCAL, "_thread._local", "", -1),
                                       STEP(LW_HOLD_DICT, "dict", "local", 4),
                                       STEP(LW_HOLD_CLASS, "Pool", "__dict__", -1)};
    const lw_hold_step_t unnamed[] = {STEP(LW_HOLD_CONTAINER, "list", "", 5),
                                      STEP(LW_HOLD_DICT, "dict", "seen", 1),
                                      STEP(LW_HOLD_DICT, "dict", "", 1),
                                      STEP(LW_HOLD_THREADLOCAL, "_thread._local", "", -1),
                                      STEP(LW_HOLD_CONTAINER, "list", "", 1)};

    (void)state;
    assert_said(chain, 6, "STATE.seen (list, 111 items, thread-local in 2 threads) <- module "
                          "/srv/app.py");
    assert_said(in_class, 6, "Pool.local.cache (dict, 3 items, thread-local in 1 thread) <- "
                             "class Pool");
    assert_said(unnamed, 5, "(thread-local).seen (list, 5 items, thread-local in 1 thread) <- "
                            "(_thread._local) <- (list, 1 items) <- ?");
}

/* Classes made per request, kept in a registry: a made class is not a
 * root; what holds it is */
static void test_holdpath_a_class_made_at_run_time(void **state)
{
    const lw_hold_step_t chain[] = {STEP(LW_HOLD_DICT, "dict", "", 3),
                                    STEP(LW_HOLD_MADE_CLASS, "Form_279", "__dict__", -1),
                                    STEP(LW_HOLD_DICT, "dict", "Form_279", 518),
                                    STEP(LW_HOLD_DICT, "dict", "registry", 9),
                                    STEP(LW_HOLD_CLASS, "Form", "__dict__", -1)};

    (void)state;
    assert_false(lw_holdpath_is_root(LW_HOLD_MADE_CLASS));
    assert_int_equal(lw_holdpath_rank(LW_HOLD_MADE_CLASS), lw_holdpath_rank(LW_HOLD_INSTANCE));
    assert_said(chain, 5, "(dict, 3 items) <- ['Form_279'] class Form_279 <- Form.registry "
                          "(dict, 518 items) <- class Form");
}

/* A chain of objects of one type (tracebacks, each the next's tb_next)
 * is one step: "x N" */
static void test_holdpath_a_chain_of_one_type(void **state)
{
    lw_hold_step_t chain[] = {STEP(LW_HOLD_OTHER, "traceback", "", -1),
                              STEP(LW_HOLD_INSTANCE, "KeyError", "", -1),
                              STEP(LW_HOLD_DICT, "dict", "NOT_FOUND", 7),
                              STEP(LW_HOLD_MODULE, "/srv/app.py", "__dict__", -1)};

    (void)state;
    chain[0].more = 37;
    assert_said(chain, 4, "(traceback x38) <- NOT_FOUND (KeyError instance) <- module /srv/app.py");
    chain[0].more = 0;
    chain[1].more = 1;
    assert_said(chain, 4, "(traceback) <- NOT_FOUND (KeyError instance x2) <- module /srv/app.py");
    /* samples at different depths of one chain agree */
    lw_hold_step_t chains[2][LW_HOLD_DEPTH];
    size_t depths[2] = {4, 4}, agree, walked;
    memcpy(chains[0], chain, sizeof(chain));
    memcpy(chains[1], chain, sizeof(chain));
    chains[0][0].more = 114;
    chains[1][0].more = 37;
    assert_int_equal(lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chains, depths, 2,
                                      &agree, &walked), 0);
    assert_int_equal(agree, 2);
    assert_int_equal(walked, 2);
}

static void test_holdpath_is_cut_to_fit(void **state)
{
    lw_hold_step_t chain[LW_HOLD_DEPTH];
    char text[40];

    (void)state;
    for (size_t i = 0; i < LW_HOLD_DEPTH; i++)
        chain[i] = (lw_hold_step_t)STEP(LW_HOLD_CONTAINER, "list", "", 1);
    assert_int_equal(lw_holdpath_render(chain, LW_HOLD_DEPTH, text, sizeof(text)), 39);
    assert_string_equal(text + 36, "...");
}

/* The referrer followed: roots, then namespaces and containers, then
 * instances, then functions; never a frame. */
static void test_holdpath_ranks_referrers(void **state)
{
    (void)state;
    assert_true(lw_holdpath_rank(LW_HOLD_CLASS) < lw_holdpath_rank(LW_HOLD_DICT));
    assert_int_equal(lw_holdpath_rank(LW_HOLD_MODULE), lw_holdpath_rank(LW_HOLD_CLASS));
    assert_true(lw_holdpath_rank(LW_HOLD_DICT) < lw_holdpath_rank(LW_HOLD_CONTAINER));
    assert_true(lw_holdpath_rank(LW_HOLD_CONTAINER) < lw_holdpath_rank(LW_HOLD_INSTANCE));
    assert_true(lw_holdpath_rank(LW_HOLD_INSTANCE) < lw_holdpath_rank(LW_HOLD_FUNCTION));
    assert_int_equal(lw_holdpath_rank(LW_HOLD_FRAME), LW_HOLD_NEVER);
    assert_true(lw_holdpath_rank(LW_HOLD_FUNCTION) < LW_HOLD_NEVER);
}

/* Of several samples' chains: the first that reached a root, and how many
 * of those with a step say the same. */
static void test_holdpath_picks_a_rooted_chain_and_counts_agreement(void **state)
{
    static lw_hold_step_t chains[4][LW_HOLD_DEPTH];
    size_t depths[4] = {1, 0, 3, 3}, agree, walked;
    const lw_hold_step_t rooted[] = {STEP(LW_HOLD_CONTAINER, "list", "", 5),
                                     STEP(LW_HOLD_DICT, "dict", "records", 2),
                                     STEP(LW_HOLD_CLASS, "Profiler", "__dict__", -1)};

    (void)state;
    chains[0][0] = (lw_hold_step_t)STEP(LW_HOLD_OTHER, "weird", "", -1); /* no root */
    memcpy(chains[2], rooted, sizeof(rooted));
    memcpy(chains[3], rooted, sizeof(rooted));
    assert_int_equal(lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chains, depths, 4,
                                      &agree, &walked), 2);
    assert_int_equal(agree, 2);
    assert_int_equal(walked, 3);
    /* none with a step: nothing to say */
    size_t none[2] = {0, 0};
    assert_int_equal(lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chains, none, 2,
                                      &agree, &walked), -1);
    assert_int_equal(walked, 0);
    /* none rooted: the first with a step */
    size_t unrooted[2] = {0, 1};
    chains[1][0] = chains[0][0];
    assert_int_equal(lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chains, unrooted, 2,
                                      &agree, &walked), 1);
}

/* Samples of one leak walked from different objects: a logger (kept in
 * the manager's dict under its name), another logger, a logger's own dict
 * (kept by its logger): all are held by the manager's dict, which is said;
 * a sample held elsewhere is not counted. */
static void test_holdpath_says_the_holders_that_hold_most_samples(void **state)
{
    static lw_hold_step_t chains[5][LW_HOLD_DEPTH];
    size_t depths[5] = {5, 4, 4, 4, 0}, agree, walked;
    const lw_hold_step_t manager[] = {STEP(LW_HOLD_DICT, "dict", "request.7", 695),
                                      STEP(LW_HOLD_INSTANCE, "Manager", "", -1),
                                      STEP(LW_HOLD_DICT, "dict", "manager", 30),
                                      STEP(LW_HOLD_CLASS, "Logger", "__dict__", -1)};
    char text[LW_HOLD_TEXT_MAX];

    (void)state;
    chains[0][0] = (lw_hold_step_t)STEP(LW_HOLD_INSTANCE, "Logger", "__dict__", -1);
    memcpy(&chains[0][1], manager, sizeof(manager));
    strcpy(chains[0][1].key, "request.69");
    memcpy(chains[1], &manager[1], 3 * sizeof(*manager)); /* held elsewhere: no */
    chains[1][0] = (lw_hold_step_t)STEP(LW_HOLD_INSTANCE, "Handler", "", -1);
    memcpy(chains[2], manager, sizeof(manager));
    memcpy(chains[3], manager, sizeof(manager));
    strcpy(chains[3][0].key, "request.8");
    assert_int_equal(lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chains, depths, 5,
                                      &agree, &walked), 2);
    assert_int_equal(agree, 3);
    assert_int_equal(walked, 4);
    lw_holdpath_render(chains[2], depths[2], text, sizeof(text));
    assert_string_equal(text, "(dict, 695 items) <- Logger.manager (Manager instance) "
                              "<- class Logger");
    /* a holder's other key is another holder */
    strcpy(chains[3][2].key, "root");
    assert_int_equal(lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chains, depths, 5,
                                      &agree, &walked), 2);
    assert_int_equal(agree, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holdpath_a_class_attribute),
        cmocka_unit_test(test_holdpath_a_module_global),
        cmocka_unit_test(test_holdpath_an_instance_in_a_class_attribute),
        cmocka_unit_test(test_holdpath_a_default_and_a_walk_that_found_no_root),
        cmocka_unit_test(test_holdpath_a_dict_in_an_instance_is_not_its_namespace),
        cmocka_unit_test(test_holdpath_a_thread_local),
        cmocka_unit_test(test_holdpath_a_class_made_at_run_time),
        cmocka_unit_test(test_holdpath_a_chain_of_one_type),
        cmocka_unit_test(test_holdpath_is_cut_to_fit),
        cmocka_unit_test(test_holdpath_ranks_referrers),
        cmocka_unit_test(test_holdpath_picks_a_rooted_chain_and_counts_agreement),
        cmocka_unit_test(test_holdpath_says_the_holders_that_hold_most_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

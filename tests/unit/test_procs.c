/* procs: slot numbering of workers, mules and spoolers, and how they are named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "procs.h"

static const lw_alloc_t heap = {calloc, free};
static const lw_procs_t fleet = {.workers = 3, .mules = 2, .spoolers = 1};

static void test_slots_are_workers_then_mules_then_spoolers(void **state)
{
    (void)state;
    assert_int_equal(lw_procs_count(&fleet), 6);
    assert_int_equal(lw_procs_of(&fleet, 1).kind, LW_PROC_WORKER);
    assert_int_equal(lw_procs_of(&fleet, 3).number, 3);
    assert_int_equal(lw_procs_of(&fleet, 4).kind, LW_PROC_MULE);
    assert_int_equal(lw_procs_of(&fleet, 4).number, 1);
    assert_int_equal(lw_procs_of(&fleet, 5).number, 2);
    assert_int_equal(lw_procs_of(&fleet, 6).kind, LW_PROC_SPOOLER);
    assert_int_equal(lw_procs_of(&fleet, 6).number, 1);
    assert_int_equal(lw_procs_of(&fleet, 0).kind, LW_PROC_NONE);
    assert_int_equal(lw_procs_of(&fleet, 7).kind, LW_PROC_NONE);
    /* and back */
    for (uint32_t slot = 1; slot <= 6; slot++) {
        lw_proc_t p = lw_procs_of(&fleet, slot);
        assert_int_equal(lw_procs_slot(&fleet, p.kind, p.number), slot);
    }
    assert_int_equal(lw_procs_slot(&fleet, LW_PROC_MULE, 3), 0);
    assert_int_equal(lw_procs_slot(&fleet, LW_PROC_SPOOLER, 0), 0);
    assert_int_equal(lw_procs_slot(&fleet, LW_PROC_NONE, 1), 0);
}

static void test_workers_only_keep_their_uwsgi_ids(void **state)
{
    const lw_procs_t only = {.workers = 4};

    (void)state;
    for (uint32_t wid = 1; wid <= 4; wid++)
        assert_int_equal(lw_procs_slot(&only, LW_PROC_WORKER, wid), wid);
    assert_int_equal(lw_procs_slot(&only, LW_PROC_MULE, 1), 0);
    assert_int_equal(lw_procs_of(&only, 5).kind, LW_PROC_NONE);
    /* counts that do not fit say so */
    assert_int_equal(lw_procs_count(&(lw_procs_t){UINT32_MAX, 1, 0}), 0);
}

static void test_names(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(lw_procs_name(&fleet, 2, buf, sizeof(buf)), "worker 2");
    assert_string_equal(lw_procs_name(&fleet, 5, buf, sizeof(buf)), "mule 2");
    assert_string_equal(lw_procs_name(&fleet, 6, buf, sizeof(buf)), "spooler 1");
    assert_string_equal(lw_procs_name(&fleet, 9, buf, sizeof(buf)), "slot 9");
    assert_string_equal(lw_procs_name(&fleet, 5, buf, 5), "mule");
    assert_string_equal(lw_proc_name((lw_proc_t){LW_PROC_SPOOLER, 3}, buf, sizeof(buf)),
                        "spooler 3");
    assert_string_equal(lw_proc_name((lw_proc_t){LW_PROC_NONE, 0}, buf, sizeof(buf)), "?");
}

static bool picked(const void *ctx, uint32_t slot)
{
    return strchr((const char *)ctx, (char)('0' + slot)) != NULL;
}

static char *list(const char *slots)
{
    lw_strbuf_t t;
    size_t len;

    lw_strbuf_init(&t, &heap, 0);
    lw_procs_list(&t, &fleet, picked, slots);
    return lw_strbuf_finish(&t, &len);
}

static void test_lists_group_by_kind(void **state)
{
    static const struct {
        const char *slots, *said;
    } cases[] = {
        {"12", "workers 1,2"},
        {"3", "worker 3"},
        {"136", "workers 1,3, spooler 1"},
        {"5", "mule 2"},
        {"2456", "worker 2, mules 1,2, spooler 1"},
        {"", ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = list(cases[i].slots);
        assert_non_null(s);
        assert_string_equal(s, cases[i].said);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_are_workers_then_mules_then_spoolers),
        cmocka_unit_test(test_workers_only_keep_their_uwsgi_ids),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lists_group_by_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

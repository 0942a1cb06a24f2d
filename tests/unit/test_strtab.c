/* strtab: ids by content, probing under collisions, full tables refuse and count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strtab.h"

static lw_strtab_t *new_table(uint32_t capacity, uint32_t arena, void **mem)
{
    static lw_strtab_t t;

    *mem = calloc(1, lw_strtab_bytes(capacity, arena));
    assert_non_null(*mem);
    assert_int_equal(lw_strtab_init(&t, *mem, capacity, arena), 0);
    return &t;
}

static uint32_t intern(lw_strtab_t *t, const char *s, int expect)
{
    uint32_t id = 12345;

    assert_int_equal(lw_strtab_intern_hooksafe(t, s, (uint32_t)strlen(s), &id), expect);
    return id;
}

static void test_strtab_bytes_and_init_validate(void **state)
{
    lw_strtab_t t;
    char buf[64];

    (void)state;
    assert_int_equal(lw_strtab_bytes(0, 100), 0);
    assert_int_equal(lw_strtab_bytes((1u << 24) + 1, 100), 0);
    assert_int_equal(lw_strtab_bytes(4, 0), 0);
    assert_true(lw_strtab_bytes(1, 1) > 0);
    assert_int_equal(lw_strtab_init(&t, NULL, 4, 100), -EINVAL);
    assert_int_equal(lw_strtab_init(&t, buf, 0, 100), -EINVAL);
}

static void test_strtab_same_text_same_id(void **state)
{
    void *mem;
    lw_strtab_t *t = new_table(16, 1024, &mem);
    char copy[32];

    (void)state;
    uint32_t a = intern(t, "/srv/app/views.py", 1);
    uint32_t b = intern(t, "handler", 1);
    snprintf(copy, sizeof(copy), "%s", "/srv/app/views.py"); /* another buffer, same text */
    assert_int_equal(intern(t, copy, 0), a);
    assert_int_not_equal(a, b);
    assert_int_not_equal(a, LW_STR_NONE);
    assert_string_equal(lw_strtab_text(t, a), "/srv/app/views.py");
    assert_string_equal(lw_strtab_text(t, b), "handler");
    /* a prefix is another string */
    assert_int_not_equal(intern(t, "/srv/app/views", 1), a);
    /* the empty string is a string */
    uint32_t e = intern(t, "", 1);
    assert_int_not_equal(e, LW_STR_NONE);
    assert_string_equal(lw_strtab_text(t, e), "");
    free(mem);
}

static void test_strtab_unknown_ids_read_empty(void **state)
{
    void *mem;
    lw_strtab_t *t = new_table(4, 64, &mem);

    (void)state;
    assert_string_equal(lw_strtab_text(t, LW_STR_NONE), "");
    assert_string_equal(lw_strtab_text(t, 1), "");
    intern(t, "x", 1);
    assert_string_equal(lw_strtab_text(t, 1), "x");
    assert_string_equal(lw_strtab_text(t, 2), "");
    assert_string_equal(lw_strtab_text(t, UINT32_MAX), "");
    free(mem);
}

static void test_strtab_many_strings_keep_their_ids(void **state)
{
    enum { N = 4000 };
    void *mem;
    lw_strtab_t *t = new_table(N, 64 * N, &mem);
    static uint32_t ids[N];
    char s[64];

    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof(s), "<generated %d>", i);
        ids[i] = intern(t, s, 1);
        assert_int_equal(ids[i], (uint32_t)i + 1);
    }
    for (int i = N - 1; i >= 0; i--) { /* every probe chain still finds its own */
        snprintf(s, sizeof(s), "<generated %d>", i);
        assert_int_equal(intern(t, s, 0), ids[i]);
        assert_string_equal(lw_strtab_text(t, ids[i]), s);
    }
    assert_int_equal(t->used, N);
    assert_int_equal(t->refused, 0);
    free(mem);
}

static void test_strtab_full_table_refuses_and_counts(void **state)
{
    void *mem;
    lw_strtab_t *t = new_table(2, 1024, &mem);

    (void)state;
    uint32_t a = intern(t, "a", 1);
    intern(t, "b", 1);
    assert_int_equal(intern(t, "c", -ENOSPC), LW_STR_NONE);
    assert_int_equal(t->refused, 1);
    /* known strings are still found */
    assert_int_equal(intern(t, "a", 0), a);
    assert_int_equal(t->used, 2);
    free(mem);
}

static void test_strtab_full_arena_refuses_and_counts(void **state)
{
    void *mem;
    lw_strtab_t *t = new_table(16, 8, &mem);

    (void)state;
    intern(t, "abc", 1);                     /* 4 bytes with its NUL */
    assert_int_equal(intern(t, "wxyz", -ENOSPC), LW_STR_NONE); /* 5 > 4 left */
    uint32_t d = intern(t, "def", 1);        /* exactly the 4 left */
    assert_string_equal(lw_strtab_text(t, d), "def");
    assert_int_equal(intern(t, "", -ENOSPC), LW_STR_NONE);    /* not even a NUL */
    assert_int_equal(t->refused, 2);
    assert_int_equal(t->arena_used, 8);
    free(mem);
}

/* The index starts small and grows in place as names come (index.h): a few
 * hundred names touch 4 KiB of it, not all 2 * capacity slots; ids never
 * change across a growth, and every name is found again after it. */
static void test_strtab_index_grows_as_used(void **state)
{
    void *mem;
    lw_strtab_t *t = new_table(8192, 1 << 20, &mem);
    char name[32];

    (void)state;
    assert_int_equal(t->slots, 1024);
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "module_%u.py", i);
        assert_int_equal(intern(t, name, 1), i + 1);
        if (i + 1 == 512) { /* half of 1024: no growth yet, nothing past it written */
            assert_int_equal(t->slots, 1024);
            for (uint32_t k = 1024; k < 2 * 8192; k++)
                assert_int_equal(t->index[k], 0);
        }
        if (i + 1 == 513)
            assert_int_equal(t->slots, 2048);
    }
    assert_int_equal(t->slots, 2 * 8192); /* 5000 names: the whole room */
    for (uint32_t i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "module_%u.py", i);
        assert_int_equal(intern(t, name, 0), i + 1);
        assert_string_equal(lw_strtab_text(t, i + 1), name);
    }
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab_bytes_and_init_validate),
        cmocka_unit_test(test_strtab_same_text_same_id),
        cmocka_unit_test(test_strtab_unknown_ids_read_empty),
        cmocka_unit_test(test_strtab_many_strings_keep_their_ids),
        cmocka_unit_test(test_strtab_full_table_refuses_and_counts),
        cmocka_unit_test(test_strtab_full_arena_refuses_and_counts),
        cmocka_unit_test(test_strtab_index_grows_as_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* codefile: which code is the application's, which a library's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "codefile.h"

static bool library(const lw_codefile_t *c, const char *file)
{
    return lw_codefile_is_library(c, file, strlen(file));
}

static void test_codefile_libraries_and_the_application(void **state)
{
    lw_codefile_t c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_true(lw_codefile_add_prefix(&c, "/usr/lib/python3.11"));
    /* the interpreter's directories, packages anywhere */
    assert_true(library(&c, "/usr/lib/python3.11/logging/__init__.py"));
    assert_true(library(&c, "/srv/venv/lib/python3.11/site-packages/flask/app.py"));
    assert_true(library(&c, "/usr/lib/python3/dist-packages/sqlalchemy/orm/session.py"));
    /* code with no file: frozen, and generated from strings */
    assert_true(library(&c, "<frozen importlib._bootstrap>"));
    assert_true(library(&c, "<string>"));
    assert_true(library(&c, "<attrs generated init app.models.Order>"));
    /* the application, a prefix that is only a name's start, an empty name */
    assert_false(library(&c, "/srv/app/views.py"));
    assert_false(library(&c, "/usr/lib/python3.11-app/views.py"));
    assert_false(library(&c, "views.py"));
    assert_false(library(&c, ""));
    /* the length given is what counts */
    assert_false(lw_codefile_is_library(&c, "<string>", 0));
}

static void test_codefile_bounds_its_prefixes(void **state)
{
    lw_codefile_t c;
    char longdir[LW_CODEFILE_PREFIX_MAX + 8];

    (void)state;
    memset(&c, 0, sizeof(c));
    memset(longdir, 'a', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    assert_false(lw_codefile_add_prefix(&c, ""));
    assert_false(lw_codefile_add_prefix(&c, longdir));
    assert_true(lw_codefile_add_prefix(&c, "/opt/lib/")); /* a '/' already: not doubled */
    assert_int_equal(c.len[0], strlen("/opt/lib/"));
    for (int i = 1; i < LW_CODEFILE_PREFIXES; i++)
        assert_true(lw_codefile_add_prefix(&c, "/x"));
    assert_false(lw_codefile_add_prefix(&c, "/one/too/many"));
    assert_int_equal(c.n, LW_CODEFILE_PREFIXES);
    assert_true(library(&c, "/opt/lib/m.py"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codefile_libraries_and_the_application),
        cmocka_unit_test(test_codefile_bounds_its_prefixes),
    };
    return cmocka_run_group_tests_name("codefile", tests, NULL, NULL);
}

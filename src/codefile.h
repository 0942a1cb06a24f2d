/*
 * codefile.h - is a code object's file the application's, or a library's?
 *
 * A site is named at the innermost frame running application code, so this
 * decides what a LEAK line names. Library code: the interpreter's own
 * directories (sysconfig's stdlib, platstdlib, purelib and platlib, given
 * as prefixes), anything under a site-packages or dist-packages directory,
 * and code with no file of its own: a pseudo-file name in angle brackets.
 * That is frozen modules ("<frozen importlib._bootstrap>") and code
 * generated at run time from a string: dataclasses' and namedtuple's
 * methods, SQLAlchemy's and attrs' constructors ("<string>", "<attrs
 * generated init ...>"). Nobody can open such a file, and the line that
 * called it is the application's; the generated frame stays in the
 * traceback.
 *
 * Pure and allocation-free: the hooks call it (through a per-name cache).
 */
#ifndef LW_CODEFILE_H
#define LW_CODEFILE_H

#include <stdbool.h>
#include <stddef.h>

#define LW_CODEFILE_PREFIXES 8
#define LW_CODEFILE_PREFIX_MAX 512

typedef struct lw_codefile {
    char prefix[LW_CODEFILE_PREFIXES][LW_CODEFILE_PREFIX_MAX];
    size_t len[LW_CODEFILE_PREFIXES];
    int n;
} lw_codefile_t;

/* Adds a library directory (a '/' is appended when missing). Empty, too
 * long, or past LW_CODEFILE_PREFIXES: ignored, and false. */
bool lw_codefile_add_prefix(lw_codefile_t *c, const char *dir);

/* Whether file name s[0..n) is library code (above). */
bool lw_codefile_is_library(const lw_codefile_t *c, const char *s, size_t n);

#endif

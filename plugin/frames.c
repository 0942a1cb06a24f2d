/*
 * frames.c - reading CPython's frame chain from inside allocator hooks
 * (through pyinternals.h), and the names of the code it runs. Why internals
 * and not the public API, and why names and not code objects: see frames.h.
 */
#include "pyinternals.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "../src/codefile.h"
#include "../src/strtab.h"
#include "../src/wire.h" /* LW_LINE_NO_FRAME */
#include "frames.h"

#define APP_SEARCH_DEPTH 64 /* frames searched for the application's */
#define NAMES_CAPACITY 32768            /* distinct file and function names */
#define NAMES_ARENA (4u << 20)          /* their text; pages are touched as used */
#define NAME_MAX_BYTES 1024             /* a longer name is cut, at a character */
#define CODE_CACHE 4096                 /* code object -> names, direct mapped */
#define LINE_MEMO 4                     /* lines remembered per code object */

/* Written once in lw_frames_init (post_fork, before any hook runs). */
static lw_codefile_t library_dirs;

/* The rest is written under the GIL by the hooks and the code-death hook. */
static lw_strtab_t names;
enum file_class { FILE_UNKNOWN, FILE_LIBRARY, FILE_APP };
static uint8_t file_class[NAMES_CAPACITY + 1]; /* by name id */

/*
 * A code object's names, valid while `code` lives: its death clears the
 * entry. And the lines of its last few sampled instructions: a line is
 * PyCode_Addr2Line() of the instruction, which decodes the line table from
 * its start (measured: 1,000-6,000 instructions a call, a third of what the
 * default settings cost above the floor on make bench's /json), while a
 * site's samples come from the same few instructions.
 */
static struct code_names {
    const PyObject *code;
    uint32_t file, func;
    bool is_app;
    uint8_t next;                 /* the memo's entry replaced next */
    int32_t lasti[LINE_MEMO];     /* LASTI_NONE: empty */
    int32_t line[LINE_MEMO];
} *codes;
#define LASTI_NONE INT32_MIN

static destructor code_dealloc_orig;

static size_t slot_of(const void *code)
{
    return ((uintptr_t)code >> 4) % CODE_CACHE;
}

/*
 * Code objects die through here (3.11: PyCode_Type's tp_dealloc; code
 * objects are not GC-tracked there, so no trashcan is involved; 3.12 has
 * PyCode_AddWatcher for this). Their cache entry goes first: the next
 * object at that address is another code object.
 */
static void code_dealloc_hook(PyObject *op)
{
    struct code_names *e = &codes[slot_of(op)];

    if (e->code == op)
        e->code = NULL;
    code_dealloc_orig(op);
}

static int learn_library_paths(void)
{
    static const char *const keys[] = {"stdlib", "platstdlib", "purelib", "platlib"};
    PyObject *mod = PyImport_ImportModule("sysconfig");
    PyObject *paths = mod ? PyObject_CallMethod(mod, "get_paths", NULL) : NULL;
    int rc = paths && PyDict_Check(paths) ? 0 : -EINVAL;

    for (size_t i = 0; rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
        PyObject *v = PyDict_GetItemString(paths, keys[i]);
        const char *s = v && PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (s)
            lw_codefile_add_prefix(&library_dirs, s);
    }
    Py_XDECREF(paths);
    Py_XDECREF(mod);
    PyErr_Clear();
    return rc;
}

int lw_frames_init(void)
{
    size_t bytes = lw_strtab_bytes(NAMES_CAPACITY, NAMES_ARENA);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *cache = mmap(NULL, sizeof(*codes) * CODE_CACHE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (mem == MAP_FAILED || cache == MAP_FAILED || lw_strtab_init(&names, mem, NAMES_CAPACITY,
                                                                   NAMES_ARENA) < 0) {
        if (mem != MAP_FAILED)
            munmap(mem, bytes);
        if (cache != MAP_FAILED)
            munmap(cache, sizeof(*codes) * CODE_CACHE);
        return -ENOMEM;
    }
    codes = cache;
    memset(file_class, 0, sizeof(file_class));
    code_dealloc_orig = PyCode_Type.tp_dealloc;
    PyCode_Type.tp_dealloc = code_dealloc_hook;
    return learn_library_paths();
}

/* Appends code point ch as UTF-8 if it fits in NAME_MAX_BYTES. */
static bool put_utf8(char *buf, uint32_t *at, Py_UCS4 ch)
{
    uint32_t need = ch < 0x80 ? 1 : ch < 0x800 ? 2 : ch < 0x10000 ? 3 : 4;
    unsigned char *o = (unsigned char *)buf + *at;

    if (*at + need > NAME_MAX_BYTES)
        return false;
    if (need == 1) {
        o[0] = (unsigned char)ch;
    }
    else {
        for (uint32_t k = need - 1; k > 0; k--, ch >>= 6)
            o[k] = (unsigned char)(0x80 | (ch & 0x3F));
        o[0] = (unsigned char)((0xF00 >> need) | ch); /* 110x, 1110x, 11110x lead */
    }
    *at += need;
    return true;
}

/*
 * The UTF-8 text of a str without allocating (PyUnicode_AsUTF8 may):
 * ASCII in place, anything else encoded into buf (NAME_MAX_BYTES). Lone
 * surrogates, which UTF-8 cannot carry, become U+FFFD.
 */
static const char *utf8_hooksafe(PyObject *s, char *buf, uint32_t *len)
{
    Py_ssize_t n;

    if (!s || !PyUnicode_Check(s) || !PyUnicode_IS_READY(s)) {
        *len = 1;
        return "?";
    }
    n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        *len = n < NAME_MAX_BYTES ? (uint32_t)n : NAME_MAX_BYTES;
        return (const char *)PyUnicode_DATA(s);
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    *len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (!put_utf8(buf, len, ch >= 0xD800 && ch <= 0xDFFF ? 0xFFFD : ch))
            break;
    }
    return buf;
}

static uint32_t intern_hooksafe(PyObject *s)
{
    char buf[NAME_MAX_BYTES];
    uint32_t len, id;
    const char *text = utf8_hooksafe(s, buf, &len);

    lw_strtab_intern_hooksafe(&names, text, len, &id); /* LW_STR_NONE when full */
    return id;
}

/* The names of a code object, from the cache or read now; NULL when the table is full. */
static struct code_names *names_of_hooksafe(PyCodeObject *code)
{
    struct code_names *e = &codes[slot_of(code)];
    uint32_t file, func;

    if (e->code == (PyObject *)code)
        return e;
    file = intern_hooksafe(code->co_filename);
    func = intern_hooksafe(code->co_qualname);
    if (file == LW_STR_NONE || func == LW_STR_NONE)
        return NULL;
    if (file_class[file] == FILE_UNKNOWN) {
        const char *text = lw_strtab_text(&names, file);
        file_class[file] =
            lw_codefile_is_library(&library_dirs, text, strlen(text)) ? FILE_LIBRARY : FILE_APP;
    }
    e->code = (PyObject *)code;
    e->file = file;
    e->func = func;
    e->is_app = file_class[file] == FILE_APP;
    for (int i = 0; i < LINE_MEMO; i++)
        e->lasti[i] = LASTI_NONE;
    return e;
}

/* Frame f's line; e is its code object's entry. */
static int line_of_hooksafe(struct code_names *e, lw_py_frame_t *f)
{
    int32_t lasti = lw_py_frame_lasti(f);
    int line;

    for (int i = 0; i < LINE_MEMO; i++)
        if (e->lasti[i] == lasti)
            return e->line[i];
    line = lw_py_frame_line(f);
    e->lasti[e->next] = lasti;
    e->line[e->next] = line;
    e->next = (uint8_t)((e->next + 1) % LINE_MEMO);
    return line;
}

/* Frame f's line: a function entering its code (lw_py_frame_entering) is
 * at its first line, the def's. */
static int line_at_hooksafe(struct code_names *e, lw_py_frame_t *f, bool entering)
{
    return entering ? lw_py_frame_code(f)->co_firstlineno : line_of_hooksafe(e, f);
}

/* The frame whose line an allocation is charged to: a function entering
 * its code (*entering set), or the innermost complete one; NULL: none. */
static lw_py_frame_t *leaf_frame(bool *entering)
{
    lw_py_frame_t *f = lw_py_frame_entering();

    *entering = f != NULL;
    return f ? f : lw_py_frame_innermost();
}

bool lw_frames_collecting_hooksafe(void)
{
    return lw_py_collecting();
}

int lw_frames_site_hooksafe(lw_site_key_t *key)
{
    bool entering;
    lw_py_frame_t *f = leaf_frame(&entering);
    struct code_names *leaf, *e;

    memset(key, 0, sizeof(*key));
    if (!f) {
        key->line = LW_LINE_NO_FRAME; /* allocations from C with no caller */
        return -ENOENT;
    }
    if (!(leaf = names_of_hooksafe(lw_py_frame_code(f))))
        return -ENOSPC;
    key->file = leaf->file;
    key->func = leaf->func;
    key->line = line_at_hooksafe(leaf, f, entering);
    e = leaf;
    for (int depth = 0; e && depth < APP_SEARCH_DEPTH; depth++) {
        if (e->is_app) {
            key->app_file = e->file;
            key->app_func = e->func;
            key->app_line = depth == 0 ? key->line : line_of_hooksafe(e, f);
            break;
        }
        f = lw_py_frame_outer(f);
        e = f ? names_of_hooksafe(lw_py_frame_code(f)) : NULL;
    }
    return 0;
}

int lw_frames_traceback_hooksafe(lw_frame_t *out, int max)
{
    bool entering;
    struct code_names *e;
    int n = 0;

    for (lw_py_frame_t *f = leaf_frame(&entering); f && n < max; f = lw_py_frame_outer(f)) {
        if (!(e = names_of_hooksafe(lw_py_frame_code(f))))
            break;
        out[n].file = e->file;
        out[n].func = e->func;
        out[n].line = line_at_hooksafe(e, f, entering && n == 0);
        n++;
    }
    return n;
}

const char *lw_frames_name(uint32_t id)
{
    return id == LW_STR_NONE ? "?" : lw_strtab_text(&names, id);
}

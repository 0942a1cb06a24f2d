/*
 * frames.c - reading CPython 3.11's frame chain from inside allocator hooks.
 * Why internals and not the public API: see frames.h.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_frame.h"

#include <string.h>

#include "frames.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "frames.c reads CPython 3.11's frame layout"
#endif

#define MAX_PREFIXES 8
#define PREFIX_MAX 512
#define CACHE_SIZE 4096     /* file-name classification cache, direct mapped */
#define APP_SEARCH_DEPTH 64 /* frames searched for the application's */

/* Written once in lw_frames_init (post_fork, before any hook runs). */
static char prefixes[MAX_PREFIXES][PREFIX_MAX];
static size_t prefix_len[MAX_PREFIXES];
static int nprefixes;

/*
 * File name object -> is it application code. Written under the GIL by the
 * hooks. The entry is checked against the object's length and cached hash,
 * so a recycled address gives at worst one wrong attribution, never a crash.
 */
static struct {
    const PyObject *name;
    Py_ssize_t length;
    Py_hash_t hash;
    int is_app;
} cache[CACHE_SIZE];

static void add_prefix(const char *path)
{
    size_t len = strlen(path);

    if (nprefixes >= MAX_PREFIXES || len == 0 || len + 2 > PREFIX_MAX)
        return;
    memcpy(prefixes[nprefixes], path, len);
    if (path[len - 1] != '/')
        prefixes[nprefixes][len++] = '/';
    prefixes[nprefixes][len] = '\0';
    prefix_len[nprefixes++] = len;
}

int lw_frames_init(void)
{
    static const char *const keys[] = {"stdlib", "platstdlib", "purelib", "platlib"};
    PyObject *mod = PyImport_ImportModule("sysconfig");
    PyObject *paths = mod ? PyObject_CallMethod(mod, "get_paths", NULL) : NULL;
    int rc = paths && PyDict_Check(paths) ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
        PyObject *v = PyDict_GetItemString(paths, keys[i]);
        const char *s = v && PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (s)
            add_prefix(s);
    }
    Py_XDECREF(paths);
    Py_XDECREF(mod);
    PyErr_Clear();
    memset(cache, 0, sizeof(cache));
    return rc;
}

static int classify(const char *s, size_t n)
{
    if (n >= 8 && !memcmp(s, "<frozen ", 8))
        return 0;
    if (memmem(s, n, "/site-packages/", 15) || memmem(s, n, "/dist-packages/", 15))
        return 0;
    for (int i = 0; i < nprefixes; i++) {
        if (n >= prefix_len[i] && !memcmp(s, prefixes[i], prefix_len[i]))
            return 0;
    }
    return 1;
}

/* Is this code object the application's? No allocation: ASCII names are read in place. */
static int is_app_code(PyCodeObject *code)
{
    PyObject *name = code->co_filename;
    Py_ssize_t length;
    Py_hash_t hash;
    size_t slot;

    if (!name || !PyUnicode_Check(name))
        return 0;
    length = PyUnicode_GET_LENGTH(name);
    hash = ((PyASCIIObject *)name)->hash;
    slot = ((uintptr_t)name >> 4) % CACHE_SIZE;
    if (cache[slot].name == name && cache[slot].length == length && cache[slot].hash == hash)
        return cache[slot].is_app;
    cache[slot].name = name;
    cache[slot].length = length;
    cache[slot].hash = hash;
    /* Non-ASCII file names are rare outside applications: count them as the app's. */
    cache[slot].is_app = PyUnicode_IS_COMPACT_ASCII(name)
                             ? classify((const char *)PyUnicode_DATA(name), (size_t)length)
                             : 1;
    return cache[slot].is_app;
}

static _PyInterpreterFrame *skip_incomplete(_PyInterpreterFrame *f)
{
    while (f && _PyFrame_IsIncomplete(f))
        f = f->previous;
    return f;
}

static _PyInterpreterFrame *current_frame(void)
{
    PyThreadState *ts = _PyThreadState_UncheckedGet();

    if (!ts || !ts->cframe)
        return NULL;
    return skip_incomplete(ts->cframe->current_frame);
}

static int frame_line(_PyInterpreterFrame *f)
{
    return PyCode_Addr2Line(f->f_code, _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT));
}

int lw_frames_site_hooksafe(lw_site_key_t *key)
{
    _PyInterpreterFrame *f = current_frame();

    memset(key, 0, sizeof(*key));
    if (!f) {
        key->line = -1; /* "no Python frame": allocations from C with no caller */
        return -1;
    }
    key->code = (uintptr_t)f->f_code;
    key->line = frame_line(f);
    for (int depth = 0; f && depth < APP_SEARCH_DEPTH; depth++) {
        if (is_app_code(f->f_code)) {
            key->app_code = (uintptr_t)f->f_code;
            key->app_line = depth == 0 ? key->line : frame_line(f);
            break;
        }
        f = skip_incomplete(f->previous);
    }
    return 0;
}

int lw_frames_traceback_hooksafe(lw_frame_t *out, int max)
{
    int n = 0;

    for (_PyInterpreterFrame *f = current_frame(); f && n < max;
         f = skip_incomplete(f->previous)) {
        Py_INCREF(f->f_code);
        out[n].code = f->f_code;
        out[n].lasti = _PyInterpreterFrame_LASTI(f);
        n++;
    }
    return n;
}

int lw_frames_line(const lw_frame_t *frame)
{
    return PyCode_Addr2Line((PyCodeObject *)frame->code, frame->lasti * (int)sizeof(_Py_CODEUNIT));
}

static const char *utf8_or_unknown(PyObject *s)
{
    const char *u = s && PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;

    if (!u) {
        PyErr_Clear();
        return "?";
    }
    return u;
}

const char *lw_frames_filename(uintptr_t code)
{
    return code ? utf8_or_unknown(((PyCodeObject *)code)->co_filename) : "?";
}

const char *lw_frames_funcname(uintptr_t code)
{
    return code ? utf8_or_unknown(((PyCodeObject *)code)->co_qualname) : "?";
}

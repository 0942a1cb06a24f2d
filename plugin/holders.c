/*
 * holders.c - who holds a leak (see holders.h).
 *
 * The sampled blocks are addresses the allocator handed out; any of them
 * may be freed memory by now, or a block that is not an object (a list's
 * item array, a string's buffer): they are never dereferenced. Level 0
 * asks which live object REFERS INTO a block: one pass over every object
 * the collector tracks (gc.get_objects()), each traversed as the collector
 * does (tp_traverse), comparing referents with the blocks' address ranges.
 * The referrers found are real objects, which the next level looks for in
 * the same way, up to a root or LW_HOLD_DEPTH levels. Untracked containers
 * (CPython untracks dicts and tuples holding only atomic values, so a
 * module's CACHE = {} of strings is invisible to get_objects()) are
 * traversed when a tracked object refers to them.
 *
 * Nothing here runs Python code: traverse functions are C, dict lookups
 * compare values by identity, names are read from types and modules.
 */
#include "pyversion.h" /* <Python.h>, every symbol weak */

#include <stdlib.h>
#include <time.h>

#include "../src/holdpath.h"
#include "hooks.h"
#include "holders.h"

#define SAMPLES 16         /* blocks walked from, at most */
#define CHECK_EVERY 4096   /* objects between two looks at the clock */

struct target {
    uintptr_t lo, hi;      /* the block (level 0) or the object [obj, obj+1) */
    PyObject *found;       /* its chosen referrer (borrowed from `all`, or untracked) */
    int rank;              /* of found: lower is better */
    PyObject *chain[LW_HOLD_DEPTH]; /* the holders found so far: never again (cycles) */
    size_t depth;
};

struct pass {
    struct target *t;
    size_t n;
    PyObject *current;     /* the object being traversed */
    PyObject *skip;        /* the get_objects() list */
    int inner;             /* traversing an untracked container */
    uint64_t deadline, visits;
    int over;              /* the budget ran out: every traversal stops */
    int untracked;         /* look into untracked containers (see lw_holders_walk) */
    int blocks;            /* targets are sampled blocks (level 0), not objects */
};

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Whether `o` is a threading.local (the C _thread._local, or a subclass). */
static bool thread_local(PyObject *o)
{
    for (PyTypeObject *tp = Py_TYPE(o); tp; tp = tp->tp_base)
        if (!strcmp(tp->tp_name, "_thread._local"))
            return true;
    return false;
}

/* What kind of holder `o` is (src/holdpath.h ranks and says them). */
static lw_hold_kind_t kind_of(PyObject *o)
{
    if (PyType_Check(o))
        return LW_HOLD_CLASS;
    if (PyModule_Check(o))
        return LW_HOLD_MODULE;
    if (PyFunction_Check(o))
        return LW_HOLD_FUNCTION;
    if (PyDict_Check(o))
        return LW_HOLD_DICT;
    if (PyList_Check(o) || PyTuple_Check(o) || PyAnySet_Check(o))
        return LW_HOLD_CONTAINER;
    if (PyCell_Check(o))
        return LW_HOLD_CELL;
    if (PyFrame_Check(o))
        return LW_HOLD_FRAME;
    if (Py_TYPE(o)->tp_dictoffset != 0 || (Py_TYPE(o)->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return thread_local(o) ? LW_HOLD_THREADLOCAL : LW_HOLD_INSTANCE;
    if (thread_local(o))
        return LW_HOLD_THREADLOCAL;
    return LW_HOLD_OTHER;
}

static bool in_chain(const struct target *t, PyObject *o)
{
    for (size_t i = 0; i < t->depth; i++)
        if (t->chain[i] == o)
            return true;
    return false;
}

/*
 * A block an object owns apart from itself, which a sampled block may be:
 * a list's item array, a bytearray's bytes, a set's table, a dict's keys.
 * `ref` is a live object (a traverse function handed it over), so its
 * fields may be read; exact types only, so no subclass stores elsewhere.
 * *leaf says whether the object is itself what is kept (a bytearray: its
 * referrer is the holder) or a container that grows (a list: the
 * container is the holder).
 */
static uintptr_t owned_block(PyObject *ref, bool *leaf)
{
    PyTypeObject *tp = Py_TYPE(ref);

    *leaf = tp == &PyByteArray_Type;
    if (*leaf)
        return (uintptr_t)((PyByteArrayObject *)ref)->ob_bytes;
    if (tp == &PyList_Type)
        return (uintptr_t)((PyListObject *)ref)->ob_item;
    if (tp == &PyDict_Type)
        return (uintptr_t)((PyDictObject *)ref)->ma_keys;
    if (tp == &PySet_Type || tp == &PyFrozenSet_Type) {
        PySetObject *so = (PySetObject *)ref;
        return so->table == so->smalltable ? 0 : (uintptr_t)so->table;
    }
    return 0;
}

/* Target t's referrer found: `o`, if it ranks better than the one found. */
static void offer(struct target *t, PyObject *o)
{
    int r = lw_holdpath_rank(kind_of(o));

    if (r < LW_HOLD_NEVER && (!t->found || r < t->rank) && !in_chain(t, o)) {
        t->found = o;
        t->rank = r;
    }
}

static int visit(PyObject *ref, void *arg)
{
    struct pass *p = arg;
    uintptr_t a = (uintptr_t)ref, own = 0;
    bool leaf = false;

    /* one object can hold a million (a big list): the budget is checked
     * here too, and a nonzero return stops its traversal */
    if (++p->visits % (16 * CHECK_EVERY) == 0 && now_us() > p->deadline)
        p->over = 1;
    if (p->over)
        return 1;

    if (p->current == p->skip)
        return 0;
    if (p->blocks && ref)
        own = owned_block(ref, &leaf);
    for (size_t i = 0; i < p->n; i++) {
        struct target *t = &p->t[i];
        if (a >= t->lo && a < t->hi)
            offer(t, p->current);
        else if (own && own >= t->lo && own < t->hi) /* the block is ref's own */
            offer(t, leaf ? p->current : ref);
    }
    /* an untracked container's referents, one level down */
    if (p->untracked && !p->inner && ref && (PyDict_CheckExact(ref) || PyTuple_CheckExact(ref)) &&
        !PyObject_GC_IsTracked(ref)) {
        PyObject *outer = p->current;
        p->inner = 1;
        p->current = ref;
        Py_TYPE(ref)->tp_traverse(ref, visit, p);
        p->current = outer;
        p->inner = 0;
    }
    return p->over;
}

/* One pass over every tracked object. 0, or -1 when the budget ran out. */
static int one_pass(PyObject *all, struct pass *p, uint64_t deadline)
{
    Py_ssize_t n = PyList_GET_SIZE(all);

    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(all, i);
        traverseproc tr = Py_TYPE(o)->tp_traverse;
        if ((i % CHECK_EVERY == 0 && now_us() > deadline) || p->over)
            return -1;
        if (!tr || o == p->skip)
            continue;
        p->current = o;
        tr(o, visit, p);
    }
    return p->over ? -1 : 0;
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, LW_HOLD_NAME_MAX, "%s", src ? src : "?");
}

/* The key under which dict `d` holds `child`, by identity; "" if none is a str. */
static void key_of(PyObject *d, PyObject *child, char *out)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;

    out[0] = '\0';
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (v == child && PyUnicode_Check(k)) {
            const char *s = PyUnicode_AsUTF8(k);
            copy_name(out, s);
            if (!s)
                PyErr_Clear();
            return;
        }
    }
}

/* What holder `o` is, holding `child`: its kind, its name, the part of it
 * that holds the child (a dict's key, a namespace, a function's defaults). */
static void step_of(PyObject *o, PyObject *child, lw_hold_step_t *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind_of(o);
    s->items = -1;
    copy_name(s->type, Py_TYPE(o)->tp_name);
    switch (s->kind) {
    case LW_HOLD_CLASS:
        copy_name(s->type, ((PyTypeObject *)o)->tp_name);
        if (child && child == ((PyTypeObject *)o)->tp_dict)
            copy_name(s->key, "__dict__");
        break;
    case LW_HOLD_MODULE: {
        /* its file says more than its name (uWSGI names a --wsgi-file
         * module after the path, mangled); a built-in module has none */
        PyObject *file = PyModule_GetFilenameObject(o);
        const char *name = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
        if (!name) {
            PyErr_Clear();
            name = PyModule_GetName(o);
        }
        copy_name(s->type, name);
        if (!name)
            PyErr_Clear();
        Py_XDECREF(file);
        if (child && child == PyModule_GetDict(o))
            copy_name(s->key, "__dict__");
        break;
    }
    case LW_HOLD_FUNCTION: {
        PyFunctionObject *f = (PyFunctionObject *)o;
        PyObject *q = f->func_qualname;
        const char *name = q && PyUnicode_Check(q) ? PyUnicode_AsUTF8(q) : NULL;
        copy_name(s->type, name);
        if (!name)
            PyErr_Clear();
        if (child && child == f->func_defaults)
            copy_name(s->key, "defaults");
        else if (child && child == f->func_kwdefaults)
            copy_name(s->key, "keyword defaults");
        else if (child && child == f->func_closure)
            copy_name(s->key, "closure");
        break;
    }
    case LW_HOLD_DICT:
        s->items = PyDict_GET_SIZE(o);
        if (child)
            key_of(o, child, s->key);
        break;
    case LW_HOLD_CONTAINER:
        /* the C length: a subclass's __len__ is Python code, never run here */
        s->items = PyList_Check(o)    ? PyList_GET_SIZE(o)
                   : PyTuple_Check(o) ? PyTuple_GET_SIZE(o)
                                      : PySet_GET_SIZE(o);
        break;
    case LW_HOLD_INSTANCE: {
        /* an instance's own __dict__, where it has one (not a managed
         * dict, whose values it holds directly, without names) */
        Py_ssize_t off = Py_TYPE(o)->tp_dictoffset;
        if (child && off > 0 && *(PyObject **)((char *)o + off) == child)
            copy_name(s->key, "__dict__");
        break;
    }
    default:
        break;
    }
}

/* Sampled live blocks of `site` (never dereferenced). */
static size_t blocks_of(uint32_t site, struct target *t, size_t max)
{
    const lw_ptrmap_t *m = lw_hooks_ptrmap();
    size_t n = 0;

    for (uint64_t i = 0; i <= m->mask && n < max; i++) {
        const lw_ptr_slot_t *s = &m->slots[i];
        if (s->key && lw_ptrmap_site_of(s->value) == site)
            t[n++] = (struct target){.lo = s->key, .hi = s->key + lw_ptrmap_size_of(s->value)};
    }
    return n;
}

int lw_holders_walk(uint32_t site, uint64_t budget_us, char *out, size_t len)
{
    struct target t[SAMPLES];
    /* 16 x 12 steps of names: 64 KiB, too much for a thread's stack */
    lw_hold_step_t(*chain)[LW_HOLD_DEPTH] = calloc(SAMPLES, sizeof(*chain));
    size_t depth[SAMPLES] = {0}, n = chain ? blocks_of(site, t, SAMPLES) : 0, agree, walked;
    int pick;
    PyObject *gc = NULL, *all = NULL, *prev[SAMPLES] = {NULL};
    uint64_t start = now_us(), deadline = start + budget_us;
    const char *why = NULL;
    char path[LW_HOLD_TEXT_MAX];

    if (!n) {
        snprintf(out, len, "held by: unknown (%s)", chain ? "no sampled object of the site is live"
                                                          : "out of memory");
        free(chain);
        return -1;
    }
    gc = PyImport_ImportModule("gc");
    all = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    if (!all || !PyList_Check(all)) {
        PyErr_Clear();
        Py_XDECREF(gc);
        Py_XDECREF(all);
        free(chain);
        snprintf(out, len, "held by: unknown (gc.get_objects() failed)");
        return -1;
    }
    for (int level = 0; level < LW_HOLD_DEPTH && !why; level++) {
        struct pass p = {t, n, NULL, all, 0, deadline, 0, 0, level == 0, level == 0};
        size_t live = 0;
        /* An untracked container holds only atomic objects (CPython's rule)
         * or other untracked containers: looking into them is needed for
         * the sampled objects, then only while a holder is one itself. */
        for (size_t i = 0; i < n && !p.untracked; i++)
            p.untracked = t[i].lo && level && PyObject_IS_GC((PyObject *)t[i].lo) &&
                          !PyObject_GC_IsTracked((PyObject *)t[i].lo);
        for (size_t i = 0; i < n; i++)
            t[i].found = NULL;
        if (one_pass(all, &p, deadline) < 0) {
            why = "time budget spent";
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (t[i].lo == 0) /* this sample's walk ended */
                continue;
            if (!t[i].found) {
                t[i].lo = t[i].hi = 0; /* no referrer: held from C, or by a frame */
                continue;
            }
            step_of(t[i].found, level ? prev[i] : NULL, &chain[i][depth[i]]);
            depth[i]++;
            t[i].chain[t[i].depth++] = t[i].found;
            prev[i] = t[i].found;
            if (lw_holdpath_is_root(chain[i][depth[i] - 1].kind)) {
                t[i].lo = t[i].hi = 0;
                continue;
            }
            t[i].lo = (uintptr_t)t[i].found; /* its holder, next level */
            t[i].hi = t[i].lo + 1;
            live++;
        }
        if (!live)
            break;
    }
    pick = lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chain, depth, n, &agree,
                            &walked);
    if (pick < 0) {
        snprintf(out, len, "held by: unknown (%s, %.1f ms)",
                 why ? why : "no referrer found: held from C code or a running frame",
                 (double)(now_us() - start) / 1000.0);
    } else {
        /* of the samples that found a holder (a block that is not an
         * object, a dict's values say, has none), how many agree */
        lw_holdpath_render(chain[pick], depth[pick], path, sizeof(path));
        snprintf(out, len, "held by: %s (%zu of %zu samples, %.1f ms%s)", path, agree, walked,
                 (double)(now_us() - start) / 1000.0,
                 why ? ", cut short: time budget spent" : "");
    }
    Py_DECREF(all);
    Py_DECREF(gc);
    PyErr_Clear();
    free(chain);
    return pick < 0 ? -1 : 0;
}

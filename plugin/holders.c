/*
 * holders.c - who holds a leak (see holders.h).
 *
 * The sampled blocks are addresses the allocator handed out; any of them
 * may be freed memory by now, or a block that is not an object (a list's
 * item array, a string's buffer): they are never dereferenced. The first
 * pass asks which live object REFERS INTO a block: every object the
 * collector tracks (gc.get_objects()) is traversed as the collector does
 * (tp_traverse), comparing referents with the blocks' address ranges. The
 * referrers found are real objects, whose own referrers are looked for in
 * the same way, up to a root or LW_HOLD_DEPTH holders.
 *
 * A pass does not wait for its end to go up: once a sample has a holder,
 * the objects traversed after it are also compared with that holder, so
 * a chain whose holders come in the order the collector lists them (a
 * young object, the old list that keeps it, the older namespace that
 * keeps the list) is found in one pass instead of one per holder; a pass
 * that moves nothing ends the walk. Which object becomes a holder (the
 * better kind, roots, cycles, chains of one type folded) is decided by
 * src/holdchain.h; this file reports what it traverses and names what
 * was kept. Untracked containers (CPython untracks dicts and tuples
 * holding only atomic values, so a module's CACHE = {} of strings is
 * invisible to get_objects()) are traversed when a tracked object refers
 * to them.
 *
 * Nothing here runs Python code: traverse functions are C, dict lookups
 * compare values by identity, names are read from types and modules.
 */
#include "pyversion.h" /* <Python.h>, every symbol weak */

#include <stdlib.h>
#include <time.h>

#include "../src/holdchain.h"
#include "../src/holdpath.h"
#include "clock.h"
#include "collect.h"
#include "hooks.h"
#include "holders.h"

#define SAMPLES LW_CHAIN_SAMPLES
#define CANDIDATES 64 /* library sites of one application line weighed for a walk */
#define TRIES 4       /* of them walked from, the most sampled first, until one is held */
#define CHECK_EVERY 4096   /* objects between two looks at the clock */
#define PASSES_MAX 64      /* a chain of one type may take a pass a step: the budget bounds it */

/* A walk's state beside the chains (src/holdchain.h decides what they keep). */
struct pass {
    lw_chains_t c;
    PyObject *current;     /* the object being traversed */
    PyObject *skip;        /* the get_objects() list */
    int inner;             /* traversing an untracked container */
    const struct budget *budget;
    uint64_t visits;
    int over;              /* the budget ran out: every traversal stops */
    int untracked;         /* look into untracked containers (see climb) */
    int blocks;            /* compare with the sampled blocks (the first pass) */
};

static uint64_t now_us(void)
{
    return lw_clock_us(CLOCK_MONOTONIC);
}

/*
 * The budget: what the walk costs is the CPU time of this thread, which
 * is what is counted (a worker that shares its cores with others walks as
 * far for the same cost, only slower); the pause it makes is wall time,
 * which never goes past WALL_TIMES the budget.
 */
#define WALL_TIMES 4
struct budget {
    uint64_t cpu_end, wall_end;
};

static bool spent(const struct budget *b)
{
    return lw_clock_us(CLOCK_THREAD_CPUTIME_ID) > b->cpu_end || now_us() > b->wall_end;
}

/* Whether `o` is a threading.local (the C _thread._local, or a subclass). */
static bool thread_local(PyObject *o)
{
    for (PyTypeObject *tp = Py_TYPE(o); tp; tp = tp->tp_base)
        if (!strcmp(tp->tp_name, "_thread._local"))
            return true;
    return false;
}

/*
 * Whether class `o` is one its module names (a class statement, or a
 * built-in type): a root. A class made at run time (type(...) per request,
 * kept in a registry) is part of what leaks, and what holds it is looked
 * for further up. Dict lookups with str keys: no Python code runs.
 */
static bool named_class(PyObject *o)
{
    static PyObject *dunder_module; /* "__module__", made once */
    PyTypeObject *tp = (PyTypeObject *)o;
    PyObject *module, *m, *d, *v;

    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) || !tp->tp_dict)
        return true;
    if (!dunder_module && !(dunder_module = PyUnicode_InternFromString("__module__"))) {
        PyErr_Clear();
        return true;
    }
    module = PyDict_GetItemWithError(tp->tp_dict, dunder_module);
    if (!module || !PyUnicode_Check(module)) {
        PyErr_Clear();
        return true; /* no module to ask: said as a root, as before */
    }
    m = PyDict_GetItemWithError(PyImport_GetModuleDict(), module);
    d = m && PyModule_Check(m) ? PyModule_GetDict(m) : NULL;
    v = d && ((PyHeapTypeObject *)tp)->ht_name
            ? PyDict_GetItemWithError(d, ((PyHeapTypeObject *)tp)->ht_name)
            : NULL;
    PyErr_Clear();
    /* a nested class is not its module's either: its outer class holds it */
    return v == o;
}

/* What kind of holder `o` is (src/holdpath.h ranks and says them). */
static lw_hold_kind_t kind_of(PyObject *o)
{
    if (PyType_Check(o))
        return named_class(o) ? LW_HOLD_CLASS : LW_HOLD_MADE_CLASS;
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

static lw_hold_kind_t kind_op(uintptr_t o, void *ctx)
{
    (void)ctx;
    return kind_of((PyObject *)o);
}

static uintptr_t type_op(uintptr_t o, void *ctx)
{
    (void)ctx;
    return (uintptr_t)Py_TYPE((PyObject *)o);
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

static int visit(PyObject *ref, void *arg)
{
    struct pass *p = arg;
    uintptr_t a = (uintptr_t)ref, own = 0;
    bool leaf = false;

    /* one object can hold a million (a big list): the budget is checked
     * here too, and a nonzero return stops its traversal */
    if (++p->visits % (16 * CHECK_EVERY) == 0 && spent(p->budget))
        p->over = 1;
    if (p->over)
        return 1;

    if (p->current == p->skip)
        return 0;
    if (p->blocks) {
        lw_chains_block_ref(&p->c, a, (uintptr_t)p->current);
        if (ref && (own = owned_block(ref, &leaf)) != 0) /* the block may be ref's own */
            lw_chains_block_ref(&p->c, own, leaf ? (uintptr_t)p->current : a);
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
    /* a holder found (just now, too: a container whose block is sampled,
     * an untracked one holding a sample): the current object holds it */
    if (lw_chains_is_holder(&p->c, a))
        lw_chains_holder_ref(&p->c, a, (uintptr_t)p->current);
    return p->over;
}

/*
 * One pass over every tracked object, the last listed first, or the first
 * first (`forward`). A chain is climbed in one pass when its holders come
 * in the order of the pass: a collection moves the objects it reaches to
 * the end of its list as it reaches them, so what holds an object often
 * comes before it, and the first pass goes from the end; a chain built the
 * other way (each traceback holding the one raised before it) comes in
 * list order, and the passes take turns. 0, or -1 when the budget ran out.
 */
static int one_pass(PyObject *all, struct pass *p, bool forward)
{
    Py_ssize_t n = PyList_GET_SIZE(all);

    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = forward ? k : n - 1 - k;
        PyObject *o = PyList_GET_ITEM(all, i);
        traverseproc tr = Py_TYPE(o)->tp_traverse;
        if ((k % CHECK_EVERY == 0 && spent(p->budget)) || p->over)
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
    case LW_HOLD_MADE_CLASS:
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

/* Whether local site `at` is `site` or one the master sums with it (sites.h). */
static bool summed_with(const lw_sites_t *t, const lw_site_t *asked, uint32_t site, uint32_t at)
{
    const lw_site_t *k;

    return at == site || (asked && (k = lw_sites_get(t, at)) &&
                          lw_site_key_same_rollup(&asked->key, &k->key));
}

/*
 * The sites to walk from, into out[max], best first: `site`, or, for a
 * library site the master sums with others reached from the same
 * application line, those of them with live samples now, the most first
 * (after the collection: the ones that hold, not the ones whose garbage
 * came and went). Returns how many.
 */
static size_t candidates_of(uint32_t site, uint32_t *out, size_t max)
{
    const lw_ptrmap_t *m = lw_hooks_ptrmap();
    const lw_sites_t *t = lw_hooks_sites();
    const lw_site_t *asked = lw_sites_get(t, site);
    struct candidate {
        uint32_t site, n;
    } count[CANDIDATES], swap;
    size_t ncount = 0;

    for (uint64_t i = 0; i <= m->mask; i++) {
        const lw_ptr_slot_t *s = &m->slots[i];
        uint32_t at = s->key ? lw_ptrmap_site_of(s->value) : 0;
        size_t k = 0;
        if (!s->key || !summed_with(t, asked, site, at))
            continue;
        while (k < ncount && count[k].site != at)
            k++;
        if (k == ncount && ncount < CANDIDATES)
            count[ncount++] = (struct candidate){at, 0};
        if (k < ncount)
            count[k].n++;
    }
    for (size_t i = 1; i < ncount; i++) /* most samples first; 64 at most */
        for (size_t k = i; k > 0 && count[k].n > count[k - 1].n; k--) {
            swap = count[k];
            count[k] = count[k - 1];
            count[k - 1] = swap;
        }
    for (size_t i = 0; i < ncount && i < max; i++)
        out[i] = count[i].site;
    return ncount < max ? ncount : max;
}

/* Site `at`'s sampled live blocks into the chains (never dereferenced).
 * One site's blocks are objects of one kind, whose chains agree. */
static void blocks_of(uint32_t at, lw_chains_t *c)
{
    const lw_ptrmap_t *m = lw_hooks_ptrmap();

    for (uint64_t i = 0; i <= m->mask && c->n < SAMPLES; i++) {
        const lw_ptr_slot_t *s = &m->slots[i];
        if (s->key && lw_ptrmap_site_of(s->value) == at)
            lw_chains_add(c, s->key, s->key + lw_ptrmap_size_of(s->value));
    }
}

/*
 * Passes over `all` until the chains are final, the budget is spent (the
 * reason returned) or PASSES_MAX. An untracked container holds only atomic
 * objects (CPython's rule) or other untracked containers: looking into
 * them is needed for the sampled blocks, then only while a chain's last
 * holder is one.
 */
static const char *climb(PyObject *all, struct pass *p)
{
    for (int pass = 0; pass < PASSES_MAX; pass++) {
        bool any = false;
        p->blocks = pass == 0;
        p->untracked = pass == 0;
        for (size_t i = 0; i < p->c.n; i++) {
            const lw_chain_t *t = &p->c.s[i];
            PyObject *last = t->depth ? (PyObject *)t->holder[t->depth - 1] : NULL;
            any |= t->depth > 0;
            p->untracked |= last && !t->rooted && PyObject_IS_GC(last) &&
                            !PyObject_GC_IsTracked(last);
        }
        if (pass && !any)
            return NULL; /* no block had a holder */
        lw_chains_pass(&p->c);
        if (one_pass(all, p, pass % 2) < 0)
            return "time budget spent";
        /* A pass that changed nothing has compared every chain's every
         * holder with all that holds the one below it: the chains are
         * final (a holder found in the middle of a pass had not seen the
         * objects before it, nor a chain that went on from it) */
        if (!p->c.moved)
            return NULL;
    }
    return NULL;
}

/* Says the chains found (each holder's kind and name, with the one below)
 * into out; returns the sample said, -1 for none. */
static int say(const lw_chains_t *c, lw_hold_step_t (*chain)[LW_HOLD_DEPTH], const char *why,
               uint64_t start, char *out, size_t len)
{
    size_t depth[SAMPLES] = {0}, agree, walked;
    char path[LW_HOLD_TEXT_MAX];
    int pick;

    for (size_t i = 0; i < c->n; i++) {
        const lw_chain_t *t = &c->s[i];
        for (size_t k = 0; k < t->depth; k++) {
            step_of((PyObject *)t->holder[k], k ? (PyObject *)t->holder[k - 1] : NULL,
                    &chain[i][k]);
            chain[i][k].more = t->more[k];
        }
        depth[i] = t->depth;
    }
    pick = lw_holdpath_pick((const lw_hold_step_t(*)[LW_HOLD_DEPTH])chain, depth, c->n, &agree,
                            &walked);
    if (pick < 0) {
        snprintf(out, len, "held by: unknown (%s, %.1f ms)",
                 why ? why : "no referrer found: held from C code or a running frame",
                 (double)(now_us() - start) / 1000.0);
        return -1;
    }
    /* of the samples that found a holder (a block that is not an object, a
     * dict's values say, has none), how many agree */
    lw_holdpath_render(chain[pick], depth[pick], path, sizeof(path));
    snprintf(out, len, "held by: %s (%zu of %zu samples, %.1f ms%s)", path, agree, walked,
             (double)(now_us() - start) / 1000.0, why ? ", cut short: time budget spent" : "");
    return pick;
}

int lw_holders_walk(uint32_t site, uint64_t budget_us, bool collect, char *out, size_t len)
{
    static const lw_chain_ops_t ops = {kind_op, type_op, NULL};
    /* 16 x 12 steps of names (64 KiB) and a pass's hash: too much for a
     * thread's stack */
    lw_hold_step_t(*chain)[LW_HOLD_DEPTH] = calloc(SAMPLES, sizeof(*chain));
    struct pass *p = calloc(1, sizeof(*p));
    PyObject *gc = NULL, *all = NULL;
    uint64_t start = now_us();
    struct budget budget;
    uint32_t tries[TRIES];
    size_t ntries = 0;
    int pick = -1;

    /* Cyclic garbage first, as the gc policy collects it: what no one
     * holds any more is no holder, and a site that leaks while it makes
     * garbage (a Django view: 9 KiB of the ORM's garbage a request for 0.8
     * KiB kept) had its walk name classes of the garbage for the leak. Not
     * when the user said leakwatch must not collect (--leakwatch-gc off).
     * The budget starts after it: a collection is the collector's work,
     * done now rather than later, and counted against the walk it left
     * too little (Django's site on CPython 3.14: the collection 12-18 ms
     * of the 50, a pass about 4 ms, and a walk that found nothing before
     * "unknown (time budget spent, 54.3 ms)"). The time said is the whole
     * pause, the collection's too. */
    if (collect)
        lw_collect_garbage();
    budget = (struct budget){lw_clock_us(CLOCK_THREAD_CPUTIME_ID) + budget_us,
                             now_us() + WALL_TIMES * budget_us};
    gc = PyImport_ImportModule("gc");
    if (!chain || !p || !(ntries = candidates_of(site, tries, TRIES))) {
        snprintf(out, len, "held by: unknown (%s)",
                 chain && p ? "no sampled object of the site is live" : "out of memory");
        goto out;
    }
    all = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    if (!all || !PyList_Check(all)) {
        snprintf(out, len, "held by: unknown (gc.get_objects() failed)");
        goto out;
    }
    p->skip = all;
    p->budget = &budget;
    /* A site whose blocks no object refers to (held from C or by a running
     * frame: at times, under test_django's view on CPython 3.13 and 3.15,
     * Django's SQL compiler's) says nothing of the leak; the next site of
     * the sum may, budget allowing. */
    for (size_t i = 0; i < ntries && pick < 0; i++) {
        const char *why;
        lw_chains_init(&p->c, &ops);
        blocks_of(tries[i], &p->c);
        why = climb(all, p);
        pick = say(&p->c, chain, why, start, out, len);
        if (why)
            break; /* the budget is spent */
    }
out:
    Py_XDECREF(all);
    Py_XDECREF(gc);
    PyErr_Clear();
    free(chain);
    free(p);
    return pick < 0 ? -1 : 0;
}

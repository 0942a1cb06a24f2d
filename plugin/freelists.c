/*
 * freelists.c - CPython's free lists: a block that dies at one line and is
 * revived at another must not keep charging the first (see below). The
 * hooks on list, tuple and dict deaths, and the key tables' free list.
 */
#define Py_BUILD_CORE 1 /* dict key tables and free-list state */
#include <Python.h>
#include "internal/pycore_dict.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

#include <stdbool.h>

#include "freelists.h"
#include "hooks.h"

/*
 * The size of a small dict's key table, the one size its free list keeps
 * (3.11: PyDict_LOG_MINSIZE slots of one-byte indices, five unicode
 * entries). Sampled blocks of that size outside the shelf are counted
 * (lw_hooks_watch_size), so that the free list is looked at after a
 * request only when one of them may be on it.
 */
#define DICT_LOG_MINSIZE 3 /* PyDict_LOG_MINSIZE, private to dictobject.c */
#define SMALL_KEYS_BYTES \
    (sizeof(PyDictKeysObject) + (1 << DICT_LOG_MINSIZE) + \
     ((UINT64_C(2) << DICT_LOG_MINSIZE) / 3) * sizeof(PyDictUnicodeEntry))

/* The hooks' map of sampled blocks, set at start (GIL-guarded). */
static const lw_ptrmap_t *ptrs;

/*
 * Free lists. CPython shelves dead lists, tuples and dicts, and the key
 * tables of small dicts, and hands them out again without calling the
 * allocator. A block sampled at one line, shelved, then revived as another
 * line's object would keep charging the first line: a leak of lists would
 * show at whatever line last dropped a list (seen in make eval: an
 * lru_cache leak reported at the app's start_response() line).
 * tracemalloc re-attributes on revival (_Py_NewReference), a path
 * extensions cannot hook; leakwatch hooks the death instead: when one of
 * these types' objects dies, a sampled block (the object's, and its dict's
 * key table when this death frees it) moves from its site to one named
 * "<CPython free lists>" before CPython may shelve it. The first line no
 * longer grows with another line's objects; the bytes stay counted (they
 * are still the allocator's, on the shelf or revived), so totals and the
 * NATIVE judgement stay right; and a leak of revived objects still shows,
 * at that site, with its endpoints. When CPython really frees the block,
 * the free hook subtracts it there.
 *
 * A key table also reaches its free list without its dict dying: a dict
 * that grows frees its old small table (dictresize), a path no hook sees.
 * After each request the tables still shelved are moved too (at most
 * PyDict_MAXFREELIST pointers to look up); one freed by a resize and
 * revived within the same request keeps charging its first line.
 *
 * The trashcan. Deallocating nested containers recurses; CPython bounds
 * the depth with the trashcan, which each container's deallocator enters
 * only when it is the object's own type's tp_dealloc
 * (Py_TRASHCAN_BEGIN(op, list_dealloc): _PyTrash_cond). A subclass
 * instance's death runs its type's deallocator first (subtype_dealloc, the
 * C OrderedDict's odict_dealloc), which enters the trashcan itself and
 * then calls the base's; the base must not enter it a second time, or the
 * object is parked half-destroyed and later deallocated again through its
 * type (issue 14: a Counter chain killed the worker). The originals no
 * longer are any type's tp_dealloc, so they never enter it; each hook does,
 * under CPython's rule, with the hook as the guarded deallocator. Below
 * TRASH_FAST_DEPTH nested deaths, 3.11's _PyTrash_begin() only counts (it
 * parks objects at _PyTrash_UNWIND_LEVEL, 50): that count is kept inline,
 * as the deallocators' own trashcan costs about nothing per death (out of
 * line, CPython's macro cost about 30 instructions a death, 3.5% of a JSON
 * request's instructions). Deeper, CPython's _PyTrash_begin() and
 * _PyTrash_end() decide, after untracking as the originals do: a parked
 * object is chained through its GC head.
 *
 * Shelved objects are exact types only: subclasses never reach a free
 * list, and their blocks may start before the GC head. Floats are left
 * alone: the interpreter frees exact floats without tp_dealloc, and they
 * are 24 bytes.
 */
#define TRASH_FAST_DEPTH 40

static destructor list_dealloc_orig, tuple_dealloc_orig, dict_dealloc_orig;

static inline void shelve_block_hooksafe(const void *block)
{
    if (lw_ptrmap_maybe_hooksafe(ptrs, (uintptr_t)block))
        lw_hooks_shelve_hooksafe(block);
}

/* The body of a hooked death: shelve what may be shelved, then deallocate.
 * is_dict is a constant where this is inlined (type addresses are not). */
static inline void shelve_and_dealloc(PyObject *op, PyTypeObject *exact, bool is_dict,
                                      destructor orig)
{
    if (Py_IS_TYPE(op, exact))
        shelve_block_hooksafe((char *)op - sizeof(PyGC_Head));
    if (is_dict) {
        /* the last reference to its key table, of any dict type: it is
         * freed (or shelved) with the dict; shared (split) tables stay */
        PyDictKeysObject *keys = ((PyDictObject *)op)->ma_keys;
        if (keys && keys->dk_refcnt == 1)
            shelve_block_hooksafe(keys);
    }
    orig(op);
}

/* A hooked death, inside the trashcan when CPython's rule says so (see above). */
static inline void dealloc_hooked(PyObject *op, destructor hook, PyTypeObject *exact,
                                  bool is_dict, destructor orig)
{
    PyThreadState *ts;

    if (Py_TYPE(op)->tp_dealloc != hook) { /* a subclass's deallocator holds the trashcan */
        shelve_and_dealloc(op, exact, is_dict, orig);
        return;
    }
    ts = _PyThreadState_GET();
    if (ts->trash_delete_nesting >= TRASH_FAST_DEPTH) {
        PyObject_GC_UnTrack(op);
        if (_PyTrash_begin(ts, op)) /* parked: its tp_dealloc (this hook) runs later */
            return;
        shelve_and_dealloc(op, exact, is_dict, orig);
        _PyTrash_end(ts);
        return;
    }
    ts->trash_delete_nesting++;
    shelve_and_dealloc(op, exact, is_dict, orig);
    if (ts->trash_delete_later) { /* parked deaths wait for the outermost */
        _PyTrash_end(ts);
        return;
    }
    ts->trash_delete_nesting--;
}

static void list_dealloc_hook(PyObject *op)
{
    dealloc_hooked(op, list_dealloc_hook, &PyList_Type, false, list_dealloc_orig);
}

static void tuple_dealloc_hook(PyObject *op)
{
    dealloc_hooked(op, tuple_dealloc_hook, &PyTuple_Type, false, tuple_dealloc_orig);
}

static void dict_dealloc_hook(PyObject *op)
{
    dealloc_hooked(op, dict_dealloc_hook, &PyDict_Type, true, dict_dealloc_orig);
}

/* After a request: the key tables a resize shelved, which no hook saw.
 * Only when a sampled block of their size may be among them: up to
 * PyDict_MAXFREELIST lookups otherwise cost a small request 0.3%. */
void lw_freelists_after_request(void)
{
#if PyDict_MAXFREELIST > 0
    const struct _Py_dict_state *state = &_PyInterpreterState_GET()->dict_state;
    PyDictKeysObject *const *shelved = state->keys_free_list;

    for (int i = 0, n = state->keys_numfree; i < n && lw_hooks_watched_live() > 0; i++)
        shelve_block_hooksafe(shelved[i]);
#endif
}

/* In the worker only, after fork: the types' slots are copy-on-write. */
void lw_freelists_start(void)
{
    ptrs = lw_hooks_ptrmap();
    lw_hooks_watch_size(SMALL_KEYS_BYTES);
    list_dealloc_orig = PyList_Type.tp_dealloc;
    tuple_dealloc_orig = PyTuple_Type.tp_dealloc;
    dict_dealloc_orig = PyDict_Type.tp_dealloc;
    PyList_Type.tp_dealloc = list_dealloc_hook;
    PyTuple_Type.tp_dealloc = tuple_dealloc_hook;
    PyDict_Type.tp_dealloc = dict_dealloc_hook;
}


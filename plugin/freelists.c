/*
 * freelists.c - CPython's free lists: a block that dies at one line and is
 * revived at another must not keep charging the first (see below). The
 * hooks on list, tuple and dict deaths, and the key tables' free list.
 */
#include "pyinternals.h" /* the trashcan, the GC head, the key tables */

#include <stdbool.h>

#include "freelists.h"
#include "hooks.h"

/*
 * Sampled blocks of a small dict's key table (LW_PY_SMALL_KEYS_BYTES)
 * outside the shelf are counted (lw_hooks_watch_size), so that the free
 * list is looked at after a request only when one of them may be on it.
 */
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
 * the depth with the trashcan, which (to 3.13; from 3.14 _Py_Dealloc does it
 * for every deallocator) each container's deallocator enters only when it is
 * the object's own type's tp_dealloc (Py_TRASHCAN_BEGIN(op, list_dealloc)).
 * A subclass instance's death runs
 * its type's deallocator first (subtype_dealloc, the C OrderedDict's
 * odict_dealloc), which enters the trashcan itself and then calls the
 * base's; the base must not enter it a second time, or the object is parked
 * half-destroyed and later deallocated again through its type (issue 14: a
 * Counter chain killed the worker). The originals no longer are any type's
 * tp_dealloc, so they never enter it; each hook does, under CPython's rule,
 * with the hook as the guarded deallocator (LW_PY_TRASHCAN, per
 * version in pyinternals.h).
 *
 * Shelved objects are exact types only: subclasses never reach a free
 * list, and their blocks may start before the GC head. Floats are left
 * alone: the interpreter frees exact floats without tp_dealloc, and they
 * are 24 bytes.
 */
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
        shelve_block_hooksafe((char *)op - LW_PY_GC_HEAD_BYTES);
    if (is_dict) {
        /* the last reference to its key table, of any dict type: it is
         * freed (or shelved) with the dict; shared (split) tables stay */
        const void *keys = lw_py_dict_keys_dying(op);
        if (keys)
            shelve_block_hooksafe(keys);
    }
    orig(op);
}

/* A hooked death, inside the trashcan when CPython's rule says so (see above).
 * Inlined into each hook, where is_dict and exact are constants: out of
 * line it cost a JSON request 1.6% more instructions (make bench). */
__attribute__((always_inline)) static inline void dealloc_hooked(PyObject *op, destructor hook, PyTypeObject *exact,
                                  bool is_dict, destructor orig)
{
    LW_PY_TRASHCAN(op, hook, shelve_and_dealloc(op, exact, is_dict, orig));
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

static bool shelve_while_watched(const void *keys)
{
    if (lw_hooks_watched_live() == 0)
        return false;
    shelve_block_hooksafe(keys);
    return true;
}

/* After a request: the key tables a resize shelved, which no hook saw.
 * Only when a sampled block of their size may be among them: up to
 * PyDict_MAXFREELIST lookups otherwise cost a small request 0.3%. */
void lw_freelists_after_request(void)
{
    if (lw_hooks_watched_live() > 0)
        lw_py_keys_shelf_walk(shelve_while_watched);
}

/* In the worker only, after fork: the types' slots are copy-on-write. */
void lw_freelists_start(void)
{
    ptrs = lw_hooks_ptrmap();
    lw_hooks_watch_size(LW_PY_SMALL_KEYS_BYTES);
    list_dealloc_orig = PyList_Type.tp_dealloc;
    tuple_dealloc_orig = PyTuple_Type.tp_dealloc;
    dict_dealloc_orig = PyDict_Type.tp_dealloc;
    PyList_Type.tp_dealloc = list_dealloc_hook;
    PyTuple_Type.tp_dealloc = tuple_dealloc_hook;
    PyDict_Type.tp_dealloc = dict_dealloc_hook;
}


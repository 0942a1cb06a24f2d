/*
 * pyinternals.h - the one place leakwatch reads CPython's private
 * structures (Py_BUILD_CORE), with a branch per minor version, each saying
 * what that version changed. Included by frames.c (the frame walk) and
 * freelists.c (the trashcan, the GC head, the dict key tables' free list);
 * no other file defines Py_BUILD_CORE or includes an internal/ header.
 *
 * Everything here runs inside allocator or deallocation hooks with the GIL
 * held: nothing may allocate, raise, or call back into Python.
 *
 * A plugin built for one minor version must never run inside another: the
 * layouts below differ. lw_py_refusal() (pyversion.h) says why it must stay
 * off before any of this is touched; as every CPython symbol, the private
 * functions each branch calls are weak references (LW_PY_WEAK), so that the
 * plugin still loads where they do not exist, and says so.
 */
#ifndef LW_PYINTERNALS_H
#define LW_PYINTERNALS_H

#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include <Python.h>

#include <stdbool.h>
#include <stddef.h>

#include "pyversion.h" /* every CPython symbol is a weak reference */

#define LW_PY_PRAGMA(x) _Pragma(#x)
#define LW_PY_WEAK(sym) LW_PY_PRAGMA(weak sym) /* a branch's own private functions */

/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030C0000 /* 3.11 */

/*
 * 3.11. Frames are _PyInterpreterFrame, linked by `previous`, the
 * innermost at tstate->cframe->current_frame; a frame is incomplete (not yet
 * running its first instruction: its line is meaningless) while
 * _PyFrame_IsIncomplete() says so; f_code is the code object (borrowed). No
 * PyUnstable_ frame API yet: the line is PyCode_Addr2Line() of the last
 * instruction's byte offset. The trashcan counts tstate->trash_delete_nesting
 * and parks objects in _PyTrash_begin() past _PyTrash_UNWIND_LEVEL (50);
 * _PyThreadState_GET() is an inline read of the exported _PyRuntime. Dict key
 * tables: interp->dict_state.keys_free_list[keys_numfree].
 */
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

LW_PY_WEAK(_PyRuntime)
LW_PY_WEAK(_PyThreadState_UncheckedGet)
LW_PY_WEAK(_PyTrash_begin)
LW_PY_WEAK(_PyTrash_end)

#define LW_PY_TSTATE() _PyThreadState_GET() /* the trashcan's, inline */
#define LW_PY_TSTATE_UNCHECKED() _PyThreadState_UncheckedGet()
#define LW_PY_FRAME_HEAD(ts) ((ts)->cframe ? (ts)->cframe->current_frame : NULL)
#define LW_PY_FRAME_CODE(f) ((f)->f_code)
#define LW_PY_FRAME_LINE(f) \
    PyCode_Addr2Line((f)->f_code, _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT))
#define LW_PY_TRASH_NESTING(ts) ((ts)->trash_delete_nesting)
#define LW_PY_TRASH_LATER(ts) ((ts)->trash_delete_later)
#define LW_PY_KEYS_SHELF_MAX PyDict_MAXFREELIST

/* ------------------------------------------------------------------ */
#elif PY_VERSION_HEX < 0x030D0000 /* 3.12 */

/*
 * 3.12. The frame chain as in 3.11 (tstate->cframe->current_frame, f_code,
 * prev_instr); the entry frame on the C stack (owner FRAME_OWNED_BY_CSTACK)
 * runs the "<interpreter trampoline>" shim code and is always incomplete.
 * PyUnstable_InterpreterFrame_GetLine() appears (PyCode_Addr2Line of the
 * frame's last instruction; it neither allocates nor raises).
 * _PyThreadState_GET() now reads the thread-local _Py_tss_tstate, which
 * libpython does not export: the exported _PyThreadState_UncheckedGet()
 * instead. The trashcan's counters move into tstate->trash
 * (delete_nesting, delete_later); _PyTrash_begin/_end are unchanged. Dict
 * key tables: interp->dict_state as in 3.11.
 */
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"

LW_PY_WEAK(_PyThreadState_UncheckedGet)
LW_PY_WEAK(_PyTrash_begin)
LW_PY_WEAK(_PyTrash_end)
LW_PY_WEAK(PyUnstable_InterpreterFrame_GetLine)

#define LW_PY_TSTATE() _PyThreadState_UncheckedGet() /* the trashcan's */
#define LW_PY_TSTATE_UNCHECKED() _PyThreadState_UncheckedGet()
#define LW_PY_FRAME_HEAD(ts) ((ts)->cframe ? (ts)->cframe->current_frame : NULL)
#define LW_PY_FRAME_CODE(f) ((f)->f_code)
#define LW_PY_FRAME_LINE(f) PyUnstable_InterpreterFrame_GetLine(f)
#define LW_PY_TRASH_NESTING(ts) ((ts)->trash.delete_nesting)
#define LW_PY_TRASH_LATER(ts) ((ts)->trash.delete_later)
#define LW_PY_KEYS_SHELF_MAX PyDict_MAXFREELIST

/* ------------------------------------------------------------------ */
#elif PY_VERSION_HEX < 0x030E0000 /* 3.13 */

/*
 * 3.13. tstate->cframe is gone: the innermost frame is tstate->current_frame.
 * f_code becomes f_executable (a code object, or None in the C-stack entry
 * frame, owner FRAME_OWNED_BY_CSTACK, which _PyFrame_IsIncomplete() now
 * reports before touching it; the "__init__" cleanup shim is incomplete
 * too), read with _PyFrame_GetCode(); prev_instr becomes instr_ptr. The
 * thread state: PyThreadState_GetUnchecked() (exported; the old name is a
 * macro for it). The trashcan is inline in Py_TRASHCAN_BEGIN: it counts
 * tstate->c_recursion_remaining down and parks with
 * _PyTrash_thread_deposit_object() within Py_TRASHCAN_HEADROOM of the limit
 * (_PyTrash_begin/_end are still declared but gone from libpython); a parked
 * object must be untracked first, as it is chained through its GC head.
 * Free lists move to interp->object_state.freelists: the key tables' at
 * .dictkeys.items[numfree]; they are allocated from the MEM domain now.
 */
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"

LW_PY_WEAK(PyThreadState_GetUnchecked)
LW_PY_WEAK(PyThreadState_Get)
LW_PY_WEAK(PyUnstable_InterpreterFrame_GetLine)
LW_PY_WEAK(_PyTrash_thread_deposit_object)
LW_PY_WEAK(_PyTrash_thread_destroy_chain)

#define LW_PY_TSTATE_UNCHECKED() PyThreadState_GetUnchecked()
#define LW_PY_FRAME_HEAD(ts) ((ts)->current_frame)
#define LW_PY_FRAME_CODE(f) _PyFrame_GetCode(f)
#define LW_PY_FRAME_LINE(f) PyUnstable_InterpreterFrame_GetLine(f)
#define LW_PY_KEYS_SHELF_MAX PyDict_MAXFREELIST

/* ------------------------------------------------------------------ */
#else /* 3.14, 3.15 */

/*
 * 3.14 and 3.15. The frame structs move to pycore_interpframe_structs.h,
 * the helpers to pycore_interpframe.h; f_executable is a tagged
 * _PyStackRef (_PyFrame_GetCode() untags it). Boundary frames are owned by
 * FRAME_OWNED_BY_INTERPRETER (3; their executable is None), and
 * _PyFrame_IsIncomplete() reports every owner from it on; 3.15 ends every
 * chain with such a frame (tstate->base_frame), so the head is never NULL.
 * The trashcan leaves the deallocators: _Py_Dealloc() parks a GC object
 * before calling its tp_dealloc when the C stack is near its limit, so a
 * deallocator, hooked or not, does no trashcan work at all (the Py_TRASHCAN_
 * macros are empty). Free lists are linked through each entry's first word
 * (struct _Py_freelist: freelist, size), the key tables' at
 * interp->object_state.freelists.dictkeys; PyDict_MAXFREELIST becomes
 * Py_dictkeys_MAXFREELIST.
 */
#include "internal/pycore_dict.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_interpframe.h"

LW_PY_WEAK(PyThreadState_GetUnchecked)
LW_PY_WEAK(PyUnstable_InterpreterFrame_GetLine)

#define LW_PY_TSTATE_UNCHECKED() PyThreadState_GetUnchecked()
#define LW_PY_FRAME_HEAD(ts) ((ts)->current_frame)
#define LW_PY_FRAME_CODE(f) _PyFrame_GetCode(f)
#define LW_PY_FRAME_LINE(f) PyUnstable_InterpreterFrame_GetLine(f)
#define LW_PY_KEYS_SHELF_MAX Py_dictkeys_MAXFREELIST

#endif

typedef struct _PyInterpreterFrame lw_py_frame_t;

/* Whether the running interpreter's cyclic collector is at work (what it
 * frees is garbage): interp->gc.collecting, by that name from 3.11 to
 * 3.15. False with no thread state. */
static inline bool lw_py_collecting(void)
{
    PyThreadState *ts = LW_PY_TSTATE_UNCHECKED();

    return ts && ts->interp && ts->interp->gc.collecting;
}

/* f, or the first complete frame it was called from; NULL at the end. */
static inline lw_py_frame_t *lw_py_frame_complete(lw_py_frame_t *f)
{
    while (f && _PyFrame_IsIncomplete(f))
        f = f->previous;
    return f;
}

/* The running thread's innermost complete frame; NULL when no Python runs. */
static inline lw_py_frame_t *lw_py_frame_innermost(void)
{
    PyThreadState *ts = LW_PY_TSTATE_UNCHECKED();

    return ts ? lw_py_frame_complete(LW_PY_FRAME_HEAD(ts)) : NULL;
}

/*
 * Where the running thread is, read cheaply (every allocation reads it
 * while a revival is watched, freelists.c): the thread (NULL when none),
 * its innermost frame as it stands, complete or not, and that frame's
 * instruction pointer (3.11, 3.12 prev_instr; from 3.13 instr_ptr), which
 * only moves forward through a frame's code unless the frame loops.
 */
#if PY_VERSION_HEX < 0x030D0000
#define LW_PY_FRAME_IP(f) ((uintptr_t)(f)->prev_instr)
#else
#define LW_PY_FRAME_IP(f) ((uintptr_t)(f)->instr_ptr)
#endif

static inline const PyThreadState *lw_py_position(lw_py_frame_t **head, uintptr_t *ip)
{
    PyThreadState *ts = LW_PY_TSTATE_UNCHECKED();

    *head = ts ? LW_PY_FRAME_HEAD(ts) : NULL;
    *ip = *head ? LW_PY_FRAME_IP(*head) : 0;
    return ts;
}

/* The frame f was called from, complete or not; NULL at the end. */
static inline lw_py_frame_t *lw_py_frame_caller(lw_py_frame_t *f)
{
    return f->previous;
}

/*
 * The running thread's innermost frame when it is entering its code: before
 * its first instruction (incomplete) a function's frame makes the cells of
 * its variables that closures share (MAKE_CELL, the only instruction before
 * it that allocates), so those are the function's own. Only a frame the
 * thread owns (or a frame object does) whose code has cells: entry frames
 * of C calls (owned by the C stack; 3.14's by the interpreter) have no code
 * to name, and 3.13's __init__ shim, incomplete while it checks
 * __init__'s result, has no cells. NULL otherwise.
 */
static inline lw_py_frame_t *lw_py_frame_entering(void)
{
    PyThreadState *ts = LW_PY_TSTATE_UNCHECKED();
    lw_py_frame_t *f = ts ? LW_PY_FRAME_HEAD(ts) : NULL;

    if (!f || !_PyFrame_IsIncomplete(f) ||
        (f->owner != FRAME_OWNED_BY_THREAD && f->owner != FRAME_OWNED_BY_FRAME_OBJECT))
        return NULL;
    return LW_PY_FRAME_CODE(f)->co_ncellvars > 0 ? f : NULL;
}

/* A complete frame's code object, borrowed (PyUnstable_InterpreterFrame_
 * GetCode() would hand out a new reference). */
static inline PyCodeObject *lw_py_frame_code(lw_py_frame_t *f)
{
    return LW_PY_FRAME_CODE(f);
}

/* A complete frame's line. */
static inline int lw_py_frame_line(lw_py_frame_t *f)
{
    return LW_PY_FRAME_LINE(f);
}

/* A complete frame's last instruction, in code units from the start of its
 * bytecode: what its line is computed from (every version from 3.11 to 3.15
 * defines it inline, and its line is the code object's line of it). */
static inline int lw_py_frame_lasti(lw_py_frame_t *f)
{
    return _PyInterpreterFrame_LASTI(f);
}

/*
 * The free lists of exact lists, dicts, tuples (one per size from 1 to
 * LW_PY_SHELF_TUPLES) and small dicts' key tables, as a stack each: how many
 * entries it holds and the one on top, the next handed out (an object's
 * address; a key table's block). 3.11: interp->list, ->dict_state, ->tuple
 * (free_list[] and numfree; tuples chained through ob_item[0], the array
 * holding each size's top); 3.13: the same under interp->object_state.
 * freelists (lists, dicts, dictkeys: items[] and numfree; tuples: items[],
 * numfree[]); 3.14 and 3.15: struct _Py_freelist each (freelist, the top,
 * chained through each entry's first word; size), tuples[size - 1].
 */
enum { LW_PY_SHELF_LIST, LW_PY_SHELF_DICT, LW_PY_SHELF_KEYS, LW_PY_SHELF_TUPLE };
#if PY_VERSION_HEX < 0x030E0000
#define LW_PY_SHELF_TUPLES PyTuple_NFREELISTS
#else
#define LW_PY_SHELF_TUPLES PyTuple_MAXSAVESIZE
#endif

/*
 * Where a free list keeps its state: its count, and either the array of
 * its entries (the top at count - 1) or, linked, its top. Read through on
 * every allocation while a revival is watched (freelists.c), so the
 * version's branching is done once, here, when the watch is put.
 */
#if PY_VERSION_HEX < 0x030E0000
typedef int lw_py_shelf_count_t; /* 3.11 to 3.13 */
#else
typedef Py_ssize_t lw_py_shelf_count_t;
#endif

typedef struct lw_py_shelf {
    const lw_py_shelf_count_t *count; /* NULL: no such free list */
    void *const *entries;             /* the array, or the top's place when linked */
    bool linked;
    const PyInterpreterState *interp; /* whose free list */
} lw_py_shelf_t;


/* Free list `which` (LW_PY_SHELF_TUPLE + size - 1 for a tuple's) of the
 * running interpreter; count NULL when there is none. */
static inline lw_py_shelf_t lw_py_shelf(int which)
{
    PyThreadState *ts = LW_PY_TSTATE_UNCHECKED();
    PyInterpreterState *interp = ts ? ts->interp : NULL;
    lw_py_shelf_t s = {NULL, NULL, false, NULL};
    int t = which - LW_PY_SHELF_TUPLE;

    if (!interp || which < 0 || t >= LW_PY_SHELF_TUPLES)
        return s;
#define LW_PY_SHELF_AT(n, array, is_linked) \
    s = (lw_py_shelf_t){&(n), (void *const *)(array), (is_linked), interp}
#if PY_VERSION_HEX < 0x030D0000 /* 3.11, 3.12 */
    if (which == LW_PY_SHELF_LIST)
        LW_PY_SHELF_AT(interp->list.numfree, interp->list.free_list, false);
    else if (which == LW_PY_SHELF_DICT)
        LW_PY_SHELF_AT(interp->dict_state.numfree, interp->dict_state.free_list, false);
    else if (which == LW_PY_SHELF_KEYS)
        LW_PY_SHELF_AT(interp->dict_state.keys_numfree, interp->dict_state.keys_free_list, false);
    else
        LW_PY_SHELF_AT(interp->tuple.numfree[t], &interp->tuple.free_list[t], true);
#elif PY_VERSION_HEX < 0x030E0000
    struct _Py_object_freelists *f = &interp->object_state.freelists;
    if (which == LW_PY_SHELF_LIST)
        LW_PY_SHELF_AT(f->lists.numfree, f->lists.items, false);
    else if (which == LW_PY_SHELF_DICT)
        LW_PY_SHELF_AT(f->dicts.numfree, f->dicts.items, false);
    else if (which == LW_PY_SHELF_KEYS)
        LW_PY_SHELF_AT(f->dictkeys.numfree, f->dictkeys.items, false);
    else
        LW_PY_SHELF_AT(f->tuples.numfree[t], &f->tuples.items[t], true);
#else
    struct _Py_freelists *f = &interp->object_state.freelists;
    struct _Py_freelist *l = which == LW_PY_SHELF_LIST ? &f->lists
                             : which == LW_PY_SHELF_DICT ? &f->dicts
                             : which == LW_PY_SHELF_KEYS ? &f->dictkeys
                                                         : &f->tuples[t];
    LW_PY_SHELF_AT(l->size, &l->freelist, true);
#endif
#undef LW_PY_SHELF_AT
    return s;
}

/* The entry on top of free list s (the next handed out); NULL when empty. */
static inline const void *lw_py_shelf_top(lw_py_shelf_t s)
{
    if (!s.count || *s.count <= 0)
        return NULL;
    return s.linked ? s.entries[0] : s.entries[*s.count - 1];
}

/* Visits the key tables on the free list until visit() returns false. */
static inline void lw_py_keys_shelf_walk(bool (*visit)(const void *block))
{
    lw_py_shelf_t s = lw_py_shelf(LW_PY_SHELF_KEYS);
    void *p;

    if (!s.count)
        return;
    if (!s.linked) {
        for (int i = 0; i < *s.count && i < LW_PY_KEYS_SHELF_MAX; i++)
            if (!visit(s.entries[i]))
                return;
        return;
    }
    /* linked through the first word: never read a shelved table's dk_refcnt */
    p = s.entries[0];
    for (int i = 0; p && i < LW_PY_KEYS_SHELF_MAX; i++, p = *(void **)p)
        if (!visit(p))
            return;
}

/* ------------------------------------------------------------------ */
/* All versions. */

/* What precedes an exact list, tuple or dict in its block. */
#define LW_PY_GC_HEAD_BYTES sizeof(PyGC_Head)

/*
 * The block of a small dict's key table, the one size its free list keeps:
 * PyDict_LOG_MINSIZE (3, private to dictobject.c) slots of one-byte indices
 * and 2/3 as many unicode entries.
 */
#define LW_PY_DICT_LOG_MINSIZE 3
#define LW_PY_SMALL_KEYS_BYTES \
    (sizeof(PyDictKeysObject) + (1 << LW_PY_DICT_LOG_MINSIZE) + \
     ((UINT64_C(2) << LW_PY_DICT_LOG_MINSIZE) / 3) * sizeof(PyDictUnicodeEntry))

/* A dying dict's key table when the dict holds its last reference (it is
 * freed or shelved with the dict); NULL for shared (split) tables. */
static inline const void *lw_py_dict_keys_dying(PyObject *dict)
{
    PyDictKeysObject *keys = ((PyDictObject *)dict)->ma_keys;

    return keys && keys->dk_refcnt == 1 ? keys : NULL;
}

/* The frame `f` was called from, skipping incomplete frames. */
static inline lw_py_frame_t *lw_py_frame_outer(lw_py_frame_t *f)
{
    return lw_py_frame_complete(f->previous);
}

/*
 * LW_PY_TRASHCAN(op, dealloc, body): runs body (op's death, by dealloc,
 * op's tp_dealloc) inside the trashcan when CPython would. Only the
 * object's own type's tp_dealloc enters it (3.11, 3.12: _PyTrash_cond; 3.13:
 * the macro's test): a subclass's deallocator has entered it already.
 */
#define LW_PY_TRASH_SUBCLASS(op, dealloc, ...) \
    if (Py_TYPE(op)->tp_dealloc != (destructor)(dealloc)) { \
        __VA_ARGS__; \
        break; \
    }

#if PY_VERSION_HEX < 0x030D0000
/*
 *
 * 3.11 and 3.12: CPython's Py_TRASHCAN_BEGIN costs two calls out of line per
 * container death (_PyTrash_cond, _PyTrash_begin: about 30 instructions,
 * 3.5% of a JSON request's); below LW_PY_TRASH_FAST_DEPTH nested deaths
 * _PyTrash_begin() only counts, so the count is kept inline. Deeper, CPython
 * decides, after untracking as the deallocators do: a parked object is
 * chained through its GC head, and `dealloc` (the object's tp_dealloc) runs
 * again later.
 */
#define LW_PY_TRASH_FAST_DEPTH 40
#define LW_PY_TRASHCAN(op, dealloc, ...) \
    do { \
        PyThreadState *lw_ts_; \
        LW_PY_TRASH_SUBCLASS(op, dealloc, __VA_ARGS__); \
        lw_ts_ = LW_PY_TSTATE(); \
        if (LW_PY_TRASH_NESTING(lw_ts_) >= LW_PY_TRASH_FAST_DEPTH) { \
            PyObject_GC_UnTrack(op); \
            if (_PyTrash_begin(lw_ts_, (PyObject *)(op))) \
                break; \
            __VA_ARGS__; \
            _PyTrash_end(lw_ts_); \
            break; \
        } \
        LW_PY_TRASH_NESTING(lw_ts_)++; \
        __VA_ARGS__; \
        if (LW_PY_TRASH_LATER(lw_ts_)) /* parked deaths wait for the outermost */ \
            _PyTrash_end(lw_ts_); \
        else \
            LW_PY_TRASH_NESTING(lw_ts_)--; \
    } while (0)
#elif PY_VERSION_HEX < 0x030E0000
/*
 * 3.13: CPython's Py_TRASHCAN_BEGIN, but untracking before parking (the
 * deallocators untrack before entering; the hook enters first).
 */
#define LW_PY_TRASHCAN(op, dealloc, ...) \
    do { \
        PyThreadState *lw_ts_; \
        LW_PY_TRASH_SUBCLASS(op, dealloc, __VA_ARGS__); \
        lw_ts_ = PyThreadState_Get(); \
        if (lw_ts_->c_recursion_remaining <= Py_TRASHCAN_HEADROOM) { \
            PyObject_GC_UnTrack(op); \
            _PyTrash_thread_deposit_object(lw_ts_, (PyObject *)(op)); \
            break; \
        } \
        lw_ts_->c_recursion_remaining--; \
        __VA_ARGS__; \
        lw_ts_->c_recursion_remaining++; \
        if (lw_ts_->delete_later && lw_ts_->c_recursion_remaining > Py_TRASHCAN_HEADROOM * 2) \
            _PyTrash_thread_destroy_chain(lw_ts_); \
    } while (0)
#else
/* 3.14 on: _Py_Dealloc() has done it (see above). */
#define LW_PY_TRASHCAN(op, dealloc, ...) \
    do { \
        __VA_ARGS__; \
    } while (0)
#endif

#endif

/*
 * freelists.c - CPython's free lists: a block that dies at one line and is
 * revived at another must not keep charging the first (see below). The
 * hooks on list, tuple and dict deaths, and the key tables' free list.
 */
#include "pyinternals.h" /* the trashcan, the GC head, the key tables */

#include <stdbool.h>

#include "../src/revival.h"
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

/*
 * Revivals. A sampled block on the shelf is the allocator's still; when
 * CPython hands it out again, the object made in it is the running line's,
 * as if allocated there. Sampling chose the block when it was first
 * allocated, at random, so following a sampled block from each revival to
 * the next charges every line the bytes it revives as sampling charges
 * what it allocates: without bias. leakwatch cannot see a revival, but it
 * can see one happened: each free list is a stack, and a block pushed at
 * depth `pos` has been popped once the stack is shallower, or as deep with
 * another on top. A watch is put on a sampled block when a death hook sees
 * it pushed; then every allocation (the hooks held, hooks.h) looks at the
 * watched stacks, and the first to see the block popped charges it to its
 * own line, the reviving line or one after it (placed, below). A block still
 * shelved after WATCH_POLLS allocations stays on the shelf, as does the
 * oldest watched block when a new one needs its place (the newest is the
 * nearest the top, the likeliest to be revived next): what is not followed
 * is counted there, as before.
 */
#define WATCH_MAX 8
#define WATCH_POLLS 512

struct watch {
    const void *entry;   /* as the stack holds it: the object, or the key table */
    const void *block;   /* as the hooks know it: the allocated block */
    lw_py_shelf_t shelf; /* its stack */
    long pos;            /* the stack's count right after the push; -1: not pushed yet */
};
static struct watch watches[WATCH_MAX];
static int looks[WATCH_MAX]; /* each watch's looks left */
static int nwatches;

/*
 * Where the revival was. The allocation that sees it may come some lines
 * after the reviving one (a dict made with no allocation of its own: its
 * key table revived too), so each look keeps the frame and instruction it
 * ran at, and a revival is charged to the line running now only where the
 * last look leaves no doubt that it came before: in the same frame, further
 * on; or in a frame called since from the last look's frame, or after that
 * frame returned. In the same frame at or before the last look's
 * instruction, the frame went round a loop: the revival may be any line of
 * it (a loop that keeps one small dict a turn and drops another was charged
 * to the dropping line), and the block stays on the shelf. With no Python
 * frame running it stays there too, and when another thread made the last
 * look (under --threads, the revival may have been either thread's).
 */
static const PyThreadState *last_thread;
static lw_py_frame_t *last_frame;
static uintptr_t last_ip;

/* A first watch: where the looks start from. */
static void mark_hooksafe(void)
{
    if (nwatches > 1)
        return; /* the looks keep it */
    last_thread = lw_py_position(&last_frame, &last_ip);
}

/* How frame `now` of thread ts stands to the last look's frame (revival.h);
 * *ip becomes the last look's frame's instruction when it called `now`.
 * Only when a revival is seen: the innermost complete frame is read here. */
static enum lw_revival_frame relation(const PyThreadState *ts, lw_py_frame_t *now, uintptr_t *ip)
{
    if (!ts || ts != last_thread || !now || !lw_py_frame_innermost())
        return LW_REVIVAL_UNKNOWN;
    if (now == last_frame)
        return LW_REVIVAL_SAME;
    for (lw_py_frame_t *f = lw_py_frame_caller(now); f; f = lw_py_frame_caller(f))
        if (f == last_frame) {
            *ip = LW_PY_FRAME_IP(f);
            return LW_REVIVAL_CALLED;
        }
    return LW_REVIVAL_OTHER;
}

static bool placed(const PyThreadState *ts, lw_py_frame_t *now, uintptr_t ip)
{
    enum lw_revival_frame how = relation(ts, now, &ip);

    return lw_revival_placed(how, ip, last_ip);
}

/* Whether a pushed block has left its stack (revival.h): what is in its
 * place is an array's entry pos - 1, a linked stack's top. */
static inline bool popped(const struct watch *w)
{
    const lw_py_shelf_t *s = &w->shelf;

    return lw_revival_popped(*s->count, w->pos, s->linked,
                             s->entries[s->linked ? 0 : w->pos - 1], w->entry);
}

static void unwatch(int i)
{
    --nwatches;
    watches[i] = watches[nwatches];
    looks[i] = looks[nwatches];
}

/* Called by every allocation while any block is watched (hooks held). */
static void poll_hooksafe(void)
{
    lw_py_frame_t *now;
    uintptr_t ip;
    const PyThreadState *ts = lw_py_position(&now, &ip);
    const PyInterpreterState *interp = ts ? ts->interp : NULL;

    for (int i = 0; i < nwatches;) {
        struct watch *w = &watches[i];

        if (w->shelf.interp != interp) {
            /* another interpreter's thread: its stacks are not this one's
             * (nor is it certain that interpreter still exists) */
        }
        else if (w->pos < 0) { /* a key table, until a resize pushes it */
            if (lw_py_shelf_top(w->shelf) == w->entry) {
                if (!lw_hooks_shelve_hooksafe(w->block)) {
                    unwatch(i);
                    continue;
                }
                w->pos = *w->shelf.count;
            }
        }
        else if (popped(w)) {
            if (placed(ts, now, ip))
                lw_hooks_revive_hooksafe(w->block);
            unwatch(i);
            continue;
        }
        if (--looks[i] <= 0)
            unwatch(i);
        else
            i++;
    }
    last_thread = ts;
    last_frame = now;
    last_ip = ip;
    if (nwatches == 0)
        lw_hooks_release();
}

static struct watch *watch_of(const void *entry)
{
    for (int i = 0; i < nwatches; i++)
        if (watches[i].entry == entry)
            return &watches[i];
    return NULL;
}

/* A new watch, in a free place or the oldest's. */
static void watch(const void *entry, const void *block, lw_py_shelf_t shelf, long pos)
{
    int i = nwatches < WATCH_MAX ? nwatches++ : lw_revival_oldest(looks, WATCH_MAX);

    watches[i] = (struct watch){entry, block, shelf, pos};
    looks[i] = WATCH_POLLS;
    mark_hooksafe();
    lw_hooks_hold(poll_hooksafe);
}

/* After a death: a sampled block on top of its stack is watched. */
static __attribute__((noinline)) void pushed_hooksafe(const void *entry, const void *block,
                                                      int which)
{
    lw_py_shelf_t shelf = lw_py_shelf(which);
    struct watch *w;

    if (lw_py_shelf_top(shelf) != entry) /* freed */
        return;
    if ((w = watch_of(entry))) /* watched since its allocation: pushed now */
        w->pos = *shelf.count;
    else
        watch(entry, block, shelf, *shelf.count);
}

/*
 * A new sample the size of a small dict's key table (it may be one),
 * allocated with no Python frame running. No death hook sees such a table
 * pushed when its dict outgrows it, and uWSGI's environ does so on every
 * request as it is filled from C: its first table goes to the free list and
 * the app's first small dict revives it (a leak of such dicts was charged a
 * table a request at "<no Python frame>"). So it is watched from now on, to
 * be shelved when seen on top of the stack and followed from there; a
 * block of that size that is no key table never shows up there, and its
 * watch runs out. Not for tables allocated by Python code: a request makes
 * thousands (every small dict's), each of those watched would cost
 * WATCH_POLLS looks, and a dict that outgrows its table in Python code
 * leaves it to the after-request walk, as before.
 */
static void keys_sampled_hooksafe(const void *block)
{
    lw_py_shelf_t shelf;

    if (lw_py_frame_innermost() || watch_of(block))
        return;
    shelf = lw_py_shelf(LW_PY_SHELF_KEYS);
    if (shelf.count)
        watch(block, block, shelf, -1);
}

static inline bool shelve_block_hooksafe(const void *block)
{
    return lw_ptrmap_maybe_hooksafe(ptrs, (uintptr_t)block) && lw_hooks_shelve_hooksafe(block);
}

/* The sampled side of a hooked death (out of line: rare). */
static __attribute__((noinline)) void sampled_dealloc(PyObject *op, bool object_sampled,
                                                      const void *keys, bool keys_sampled,
                                                      int which, destructor orig)
{
    if (object_sampled && which == LW_PY_SHELF_TUPLE) /* size 0: a singleton, never shelved */
        which = Py_SIZE(op) > 0 ? which + (int)Py_SIZE(op) - 1 : -1;
    orig(op);
    if (object_sampled)
        pushed_hooksafe(op, (char *)op - LW_PY_GC_HEAD_BYTES, which);
    if (keys_sampled)
        pushed_hooksafe(keys, keys, LW_PY_SHELF_KEYS);
}

/* The body of a hooked death: shelve what may be shelved, deallocate, and
 * watch what was sampled and pushed. `which` is a constant where this is
 * inlined (type addresses are not); for a tuple, its size picks the stack. */
__attribute__((always_inline)) static inline void shelve_and_dealloc(PyObject *op, PyTypeObject *exact,
                                                                     int which, destructor orig)
{
    const void *keys = NULL;
    bool object_sampled = false, keys_sampled = false;

    if (Py_IS_TYPE(op, exact))
        object_sampled = shelve_block_hooksafe((char *)op - LW_PY_GC_HEAD_BYTES);
    if (which == LW_PY_SHELF_DICT) {
        /* the last reference to its key table, of any dict type: it is
         * freed (or shelved) with the dict; shared (split) tables stay */
        keys = lw_py_dict_keys_dying(op);
        keys_sampled = keys && shelve_block_hooksafe(keys);
    }
    if (object_sampled || keys_sampled)
        sampled_dealloc(op, object_sampled, keys, keys_sampled, which, orig);
    else
        orig(op);
}

/* A hooked death, inside the trashcan when CPython's rule says so (see above).
 * Inlined into each hook, where `which` and exact are constants: out of
 * line it cost a JSON request 1.6% more instructions (make bench). */
__attribute__((always_inline)) static inline void dealloc_hooked(PyObject *op, destructor hook, PyTypeObject *exact,
                                  int which, destructor orig)
{
    LW_PY_TRASHCAN(op, hook, shelve_and_dealloc(op, exact, which, orig));
}

static void list_dealloc_hook(PyObject *op)
{
    dealloc_hooked(op, list_dealloc_hook, &PyList_Type, LW_PY_SHELF_LIST, list_dealloc_orig);
}

static void tuple_dealloc_hook(PyObject *op)
{
    dealloc_hooked(op, tuple_dealloc_hook, &PyTuple_Type, LW_PY_SHELF_TUPLE, tuple_dealloc_orig);
}

static void dict_dealloc_hook(PyObject *op)
{
    dealloc_hooked(op, dict_dealloc_hook, &PyDict_Type, LW_PY_SHELF_DICT, dict_dealloc_orig);
}

static bool shelve_while_watched(const void *keys)
{
    if (lw_hooks_watched_live() == 0)
        return false;
    (void)shelve_block_hooksafe(keys);
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
    lw_hooks_watch_size(LW_PY_SMALL_KEYS_BYTES, keys_sampled_hooksafe);
    list_dealloc_orig = PyList_Type.tp_dealloc;
    tuple_dealloc_orig = PyTuple_Type.tp_dealloc;
    dict_dealloc_orig = PyDict_Type.tp_dealloc;
    PyList_Type.tp_dealloc = list_dealloc_hook;
    PyTuple_Type.tp_dealloc = tuple_dealloc_hook;
    PyDict_Type.tp_dealloc = dict_dealloc_hook;
}


/*
 * engine.c - allocator hooks and the per-worker site table.
 *
 * Hot paths, in the order every allocation and free meets them:
 *   malloc/calloc: chained allocator, guard check, subtract the size from
 *                  the thread's sampler: almost always done there.
 *   free:          when any sample is live, a ptrmap lookup (usually a miss
 *                  on the first probe), then the chained free.
 * Frame walk, site interning and the ptrmap insert happen for sampled
 * allocations only: about one per mean interval of allocated bytes.
 */
#define Py_BUILD_CORE 1 /* dict key tables and free-list state (free lists below) */
#include <Python.h>
#include "internal/pycore_dict.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include <uwsgi.h>

#include <sys/mman.h>

#include "../src/path.h"
#include "../src/ptrmap.h"
#include "../src/sampler.h"
#include "../src/size.h"
#include "engine.h"
#include "frames.h"

#define SITES_CAPACITY LW_ENGINE_SITES
#define PTRMAP_INITIAL 4096
#define PTRMAP_EXACT   65536
#define PTRMAP_MAX     (UINT64_C(1) << 22)
#define DELTA_BATCH    256
#define AUTO_GC_MIN_REQUESTS 16
#define ENDPOINTS_MAX  LW_ENGINE_ENDPOINTS
#define LW_FREE_LIST_LINE (-2) /* the line of the free lists' site (no frame: -1) */
#define LW_OVERFLOW_LINE (-3)  /* the line the overflow site is published with */
#define SITE_TEXT_MAX  2048          /* identity text per site, traceback cut to fit */
#define GROUP_MAX      (SITE_TEXT_MAX / LW_RECORD_TEXT + 2)

extern struct uwsgi_server uwsgi;

/*
 * One per hooked domain, passed to the hooks as ctx: what the domain chains
 * to, and its own sampler. Both domains are only called with the GIL held,
 * so the sampler needs no thread-local storage, and keeping it in ctx saves
 * the hot path every address computation. Two independent Poisson streams,
 * one per domain, sample every byte at the same rate: still unbiased.
 */
struct chain {
    PyMemAllocatorEx prev;
    lw_sampler_t sampler;
};

/* Per site, for reporting: a representative traceback and its feeders. */
struct site_info {
    int nframes;
    bool defined;                    /* its identity went into the ring */
    int64_t grown_bytes;             /* sum of positive deltas */
    char endpoint[LW_ENDPOINT_MAX];  /* last endpoint that grew the site */
};

/* Worker-local endpoint names, interned; id 0 is "other". */
struct endpoint {
    char name[LW_ENDPOINT_MAX];
    bool defined;
};

/* Per thread: the reentrancy guard. initial-exec: one %fs-relative access. */
struct lw_tls {
    int guard;
};
static __thread struct lw_tls tls __attribute__((tls_model("initial-exec")));

/* Worker-local engine state, written under the GIL (hooks, after-request). */
static struct {
    int running;
    uint64_t mean;
    bool exact;
    int frames;
    const lw_config_t *cfg;
    lw_sampler_t weights;            /* settings for lw_sampler_weight() */
    struct chain mem, obj;
    lw_sites_t sites;
    uint32_t shelf;                  /* the free lists' site */
    int64_t small_keys;              /* samples of SMALL_KEYS_BYTES outside the shelf */
    lw_ptrmap_t ptrs;
    struct site_info *info;          /* [SITES_CAPACITY] */
    lw_frame_t *tracebacks;          /* [SITES_CAPACITY * frames] */
    lw_site_delta_t deltas[DELTA_BATCH];
    uint64_t samples, lost, collections, requests;
    int64_t tracked;                 /* sum of live estimates */
    int64_t tracked_at_gc;
    uint64_t requests_at_gc;
    /* publishing */
    lw_ring_t *ring;
    lw_record_t hello;
    bool hello_sent;
    struct endpoint *endpoints;      /* [ENDPOINTS_MAX] */
    uint32_t *endpoint_index;        /* [2 * ENDPOINTS_MAX] name hash -> id, 0 = empty */
    uint32_t nendpoints;
    lw_record_t group[GROUP_MAX];
    char text[SITE_TEXT_MAX];
} eng;

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

/* Weights depend on the settings only, never on a thread's sampler state. */
static lw_weight_t weight_of(uint64_t size)
{
    return lw_sampler_weight(&eng.weights, size);
}

/* Doubles the ptrmap when it passes half full. Sampled path only; mmap, no malloc. */
static void grow_ptrmap(void)
{
    uint64_t cap = eng.ptrs.mask + 1;
    lw_ptrmap_t bigger;
    void *mem;

    if (eng.ptrs.used * 2 < cap || cap >= PTRMAP_MAX)
        return;
    mem = map_zeroed(lw_ptrmap_bytes(cap * 2));
    if (!mem || lw_ptrmap_init(&bigger, mem, cap * 2) < 0)
        return; /* stay at this size; inserts past 3/4 count as lost */
    if (lw_ptrmap_move(&bigger, &eng.ptrs) < 0) {
        munmap(mem, lw_ptrmap_bytes(cap * 2));
        return;
    }
    munmap(eng.ptrs.slots, lw_ptrmap_bytes(cap));
    eng.ptrs = bigger;
}

/*
 * The size of a small dict's key table, the one size its free list keeps
 * (3.11: PyDict_LOG_MINSIZE slots of one-byte indices, five unicode
 * entries). Sampled blocks of that size outside the shelf are counted, so
 * that the free list is looked at after a request only when one of them
 * may be on it (see shelve_free_keys).
 */
#define DICT_LOG_MINSIZE 3 /* PyDict_LOG_MINSIZE, private to dictobject.c */
#define SMALL_KEYS_BYTES \
    (sizeof(PyDictKeysObject) + (1 << DICT_LOG_MINSIZE) + \
     ((UINT64_C(2) << DICT_LOG_MINSIZE) / 3) * sizeof(PyDictUnicodeEntry))

static inline bool small_keys_sized(uint64_t value)
{
    return lw_ptrmap_size_of(value) == SMALL_KEYS_BYTES && lw_ptrmap_site_of(value) != eng.shelf;
}

/* A sample recorded: its weight goes to its site. */
static void admit_hooksafe(uint64_t value)
{
    lw_weight_t w = weight_of(lw_ptrmap_size_of(value));

    lw_sites_add_hooksafe(&eng.sites, lw_ptrmap_site_of(value), w);
    eng.tracked += w.bytes;
    eng.small_keys += small_keys_sized(value);
}

/* A sample whose block is gone: its weight leaves its site. */
static void retire_hooksafe(uint64_t value)
{
    lw_weight_t w = weight_of(lw_ptrmap_size_of(value));

    lw_sites_sub_hooksafe(&eng.sites, lw_ptrmap_site_of(value), w);
    eng.tracked -= w.bytes;
    eng.small_keys -= small_keys_sized(value);
}

static void forget_hooksafe(void *ptr)
{
    uint64_t value;

    if (lw_ptrmap_take_hooksafe(&eng.ptrs, (uintptr_t)ptr, &value))
        retire_hooksafe(value);
}

/* The file name of a site: a pseudo-site (no Python frame, the free lists,
 * the overflow) has no file of its own. */
static const char *site_file(uint32_t idx, const lw_site_key_t *key)
{
    if (idx == LW_SITE_OVERFLOW) /* a table was full: the bytes, not their lines */
        return "<other sites: table full>";
    if (key->file)
        return lw_frames_name(key->file);
    return key->line == LW_FREE_LIST_LINE ? "<CPython free lists>" : "<no Python frame>";
}

/* A new site's traceback, read now: nothing of the frames is kept. */
static void keep_site_identity_hooksafe(uint32_t site)
{
    eng.info[site].nframes =
        lw_frames_traceback_hooksafe(&eng.tracebacks[(size_t)site * eng.frames], eng.frames);
}

/*
 * A sampled allocation: find its site and remember the pointer. Inside
 * leakwatch's own work (guard set) the sample point is skipped: the
 * process is memoryless, so skipping a point biases nothing.
 */
static void record_hooksafe(struct chain *c, void *ptr, size_t size)
{
    lw_site_key_t key;
    uint32_t site;
    uint64_t old, value;
    int rc;

    lw_sampler_rearm_hooksafe(&c->sampler);
    if (tls.guard)
        return;
    tls.guard = 1;
    {
        if (lw_frames_site_hooksafe(&key) == -ENOSPC) { /* no room for its names */
            site = LW_SITE_OVERFLOW;
            eng.sites.overflowed++;
        }
        else if (lw_sites_intern_hooksafe(&eng.sites, &key, &site) == 1) {
            keep_site_identity_hooksafe(site);
        }
        grow_ptrmap();
        value = lw_ptrmap_pack(size, site);
        rc = lw_ptrmap_put_hooksafe(&eng.ptrs, (uintptr_t)ptr, value, &old);
        if (rc < 0) {
            eng.lost++;
        }
        else {
            if (rc == 1) /* a stale entry: its free was never seen */
                retire_hooksafe(old);
            admit_hooksafe(value);
            eng.samples++;
        }
    }
    tls.guard = 0;
}

/*
 * malloc and calloc decide before allocating: the sampler needs only the
 * size. The common case is then one thread-local subtraction and a tail
 * call to the chained allocator, with no stack frame of our own. The
 * subtraction cannot recurse, so it may run before the guard check; the
 * guard comes first on every path that does more.
 */
static __attribute__((noinline)) void *malloc_sampled(struct chain *c, size_t size)
{
    void *p = c->prev.malloc(c->prev.ctx, size);

    if (p)
        record_hooksafe(c, p, size);
    return p;
}

static void *hook_malloc(void *ctx, size_t size)
{
    struct chain *c = ctx;

    if (lw_sampler_take_hooksafe(&c->sampler, size))
        return malloc_sampled(c, size);
    return c->prev.malloc(c->prev.ctx, size);
}

static __attribute__((noinline)) void *calloc_sampled(struct chain *c, size_t nelem,
                                                      size_t elsize)
{
    void *p = c->prev.calloc(c->prev.ctx, nelem, elsize);

    /* non-NULL: the chained calloc checked nelem * elsize for overflow */
    if (p)
        record_hooksafe(c, p, nelem * elsize);
    return p;
}

static void *hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct chain *c = ctx;
    size_t size;

    if (__builtin_mul_overflow(nelem, elsize, &size))
        size = SIZE_MAX; /* the chained calloc fails it; a sample is harmless */
    if (lw_sampler_take_hooksafe(&c->sampler, size))
        return calloc_sampled(c, nelem, elsize);
    return c->prev.calloc(c->prev.ctx, nelem, elsize);
}

static void *hook_realloc(void *ctx, void *ptr, size_t size)
{
    struct chain *c = ctx;
    void *p = c->prev.realloc(c->prev.ctx, ptr, size);

    if (!p) /* failed: the old block is still there, still sampled or not */
        return NULL;
    /* The old block's sample, if any, retires; the new block is a new
     * allocation for the sampler (see sampler.c on realloc). Under the GIL
     * nothing else can reuse `ptr` in between. */
    if (ptr && lw_ptrmap_maybe_hooksafe(&eng.ptrs, (uintptr_t)ptr))
        forget_hooksafe(ptr);
    if (lw_sampler_take_hooksafe(&c->sampler, size))
        record_hooksafe(c, p, size);
    return p;
}

/* The rare free of a sampled block (or a filter false positive). */
static __attribute__((noinline)) void free_maybe_sampled(struct chain *c, void *ptr)
{
    forget_hooksafe(ptr);
    c->prev.free(c->prev.ctx, ptr);
}

/* Frees always look up, guard or not: a block freed while leakwatch itself
 * runs (its gc.collect(), say) must still leave the table. Both exits are
 * tail calls, so the common path needs no stack frame. */
static void hook_free(void *ctx, void *ptr)
{
    struct chain *c = ctx;

    /* NULL needs no test: it is never a key, and take() refuses it. */
    if (lw_ptrmap_maybe_hooksafe(&eng.ptrs, (uintptr_t)ptr)) {
        free_maybe_sampled(c, ptr);
        return;
    }
    c->prev.free(c->prev.ctx, ptr);
}

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

/* A sampled block that may be shelved: its bytes move to the shelf's site. */
static __attribute__((noinline)) void shelve_hooksafe(uintptr_t block)
{
    uint64_t *value = lw_ptrmap_find_hooksafe(&eng.ptrs, block);

    if (!value || lw_ptrmap_site_of(*value) == eng.shelf) /* a false positive, or shelved */
        return;
    retire_hooksafe(*value);
    *value = lw_ptrmap_pack(lw_ptrmap_size_of(*value), eng.shelf);
    admit_hooksafe(*value);
}

static inline void shelve_block_hooksafe(const void *block)
{
    if (lw_ptrmap_maybe_hooksafe(&eng.ptrs, (uintptr_t)block))
        shelve_hooksafe((uintptr_t)block);
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
static void shelve_free_keys(void)
{
#if PyDict_MAXFREELIST > 0
    const struct _Py_dict_state *state = &_PyInterpreterState_GET()->dict_state;
    PyDictKeysObject *const *shelved = state->keys_free_list;

    for (int i = 0, n = state->keys_numfree; i < n && eng.small_keys > 0; i++)
        shelve_block_hooksafe(shelved[i]);
#endif
}

/* In the worker only, after fork: the types' slots are copy-on-write. */
static void hook_free_lists(void)
{
    static const lw_site_key_t shelf = {.line = LW_FREE_LIST_LINE};

    lw_sites_intern_hooksafe(&eng.sites, &shelf, &eng.shelf); /* a new table: room */
    list_dealloc_orig = PyList_Type.tp_dealloc;
    tuple_dealloc_orig = PyTuple_Type.tp_dealloc;
    dict_dealloc_orig = PyDict_Type.tp_dealloc;
    PyList_Type.tp_dealloc = list_dealloc_hook;
    PyTuple_Type.tp_dealloc = tuple_dealloc_hook;
    PyDict_Type.tp_dealloc = dict_dealloc_hook;
}

/* The sampler must be set up before: the hooks use it from the first call. */
static void install(PyMemAllocatorDomain domain, struct chain *c)
{
    PyMemAllocatorEx hooks = {c, hook_malloc, hook_calloc, hook_realloc, hook_free};

    PyMem_GetAllocator(domain, &c->prev);
    PyMem_SetAllocator(domain, &hooks);
}

int lw_engine_start(const lw_config_t *cfg, uint64_t seed)
{
    uint64_t cap = cfg->exact ? PTRMAP_EXACT : PTRMAP_INITIAL;
    size_t sites_bytes = lw_sites_bytes(SITES_CAPACITY);
    void *sites_mem = map_zeroed(sites_bytes);
    void *ptrs_mem = map_zeroed(lw_ptrmap_bytes(cap));

    eng.cfg = cfg;
    eng.frames = (int)cfg->frames;
    eng.mean = lw_config_sample_interval(cfg);
    eng.exact = cfg->exact;
    eng.info = map_zeroed(sizeof(struct site_info) * SITES_CAPACITY);
    eng.endpoints = map_zeroed(sizeof(struct endpoint) * ENDPOINTS_MAX);
    eng.endpoint_index = map_zeroed(sizeof(uint32_t) * 2 * ENDPOINTS_MAX);
    eng.nendpoints = 1; /* id 0: "other" */
    eng.tracebacks = map_zeroed(sizeof(lw_frame_t) * SITES_CAPACITY * (size_t)eng.frames);
    if (!sites_mem || !ptrs_mem || !eng.info || !eng.tracebacks || !eng.endpoints ||
        !eng.endpoint_index ||
        lw_sites_init(&eng.sites, sites_mem, SITES_CAPACITY) < 0 ||
        lw_ptrmap_init(&eng.ptrs, ptrs_mem, cap) < 0) {
        uwsgi_log("[leakwatch] worker %d: cannot map its tables; running untracked\n",
                  uwsgi.mywid);
        return -1;
    }
    int rc = lw_frames_init();
    if (rc == -ENOMEM) {
        uwsgi_log("[leakwatch] worker %d: cannot map its name table; running untracked\n",
                  uwsgi.mywid);
        return -1;
    }
    if (rc < 0)
        uwsgi_log("[leakwatch] worker %d: sysconfig unavailable; only site-/dist-packages "
                  "count as libraries\n", uwsgi.mywid);
    lw_sampler_init(&eng.weights, eng.mean, eng.exact, 1);
    lw_sampler_init(&eng.mem.sampler, eng.mean, eng.exact, seed);
    lw_sampler_init(&eng.obj.sampler, eng.mean, eng.exact, ~seed);
    install(PYMEM_DOMAIN_MEM, &eng.mem);
    install(PYMEM_DOMAIN_OBJ, &eng.obj);
    hook_free_lists();
    eng.running = 1;
    return 0;
}

/* The gc policy. Cyclic garbage awaiting collection must not look like growth. */
static void apply_gc_policy(void)
{
    const lw_config_t *cfg = eng.cfg;
    int collect = 0;

    if (cfg->gc == LW_GC_EVERY) {
        collect = eng.requests % cfg->gc_every == 0;
    }
    else if (cfg->gc == LW_GC_AUTO) {
        /* Growth costs a collection, a flat app never pays one: whenever
         * tracked memory has grown by half the threshold since the last
         * collection, make sure it is not cyclic garbage before anyone can
         * judge it (at most once per AUTO_GC_MIN_REQUESTS requests). */
        collect = eng.tracked - eng.tracked_at_gc >= (int64_t)(cfg->threshold / 2) &&
                  eng.requests - eng.requests_at_gc >= AUTO_GC_MIN_REQUESTS;
    }
    if (!collect)
        return;
    /* PyGC_Collect() does nothing while the app has gc disabled (gc.disable()
     * is common in web apps); gc.collect() collects regardless, and so do we. */
    int was_enabled = PyGC_Enable();
    PyGC_Collect();
    if (!was_enabled)
        PyGC_Disable();
    eng.collections++;
    eng.tracked_at_gc = eng.tracked;
    eng.requests_at_gc = eng.requests;
}

void lw_engine_publish_to(lw_ring_t *ring, int64_t pid, uint64_t spawn, uint64_t spawned_us)
{
    memset(&eng.hello, 0, sizeof(eng.hello));
    eng.hello.kind = LW_REC_HELLO;
    eng.hello.u.hello.pid = pid;
    eng.hello.u.hello.spawn = spawn;
    eng.hello.u.hello.spawned_us = spawned_us;
    eng.hello_sent = false;
    eng.ring = ring;
}

/* Appends `len` bytes of text as TEXT records after group[n]; returns the new n. */
static uint32_t add_text(uint32_t n, const char *text, size_t len)
{
    for (size_t off = 0; off < len && n < GROUP_MAX; off += LW_RECORD_TEXT) {
        lw_record_t *r = &eng.group[n++];
        size_t chunk = len - off < LW_RECORD_TEXT ? len - off : LW_RECORD_TEXT;
        memset(r, 0, sizeof(*r));
        r->kind = LW_REC_TEXT;
        r->len = (uint16_t)chunk;
        memcpy(r->u.text, text + off, chunk);
    }
    return n;
}

/* Appends one '\0'-terminated field to eng.text at *at, if it fits. */
static bool put_field(size_t *at, const char *s)
{
    size_t len = strlen(s) + 1;

    if (*at + len > sizeof(eng.text))
        return false;
    memcpy(eng.text + *at, s, len);
    *at += len;
    return true;
}

/*
 * A site's identity, once per worker generation: file, function, the
 * application frame's file and function, then file/line/function per
 * traceback frame, '\0'-separated (lines of the site itself travel in the
 * record). Cut at SITE_TEXT_MAX, dropping outer frames first.
 */
static int define_site(uint32_t idx)
{
    const lw_site_t *s = lw_sites_get(&eng.sites, idx);
    struct site_info *si = &eng.info[idx];
    size_t at = 0;
    uint32_t nframes = 0, n;
    char line[16];

    put_field(&at, site_file(idx, &s->key));
    put_field(&at, lw_frames_name(s->key.func));
    put_field(&at, s->key.app_file ? lw_frames_name(s->key.app_file) : "");
    put_field(&at, s->key.app_file ? lw_frames_name(s->key.app_func) : "");
    for (int f = 0; f < si->nframes; f++) {
        const lw_frame_t *fr = &eng.tracebacks[(size_t)idx * eng.frames + f];
        size_t mark = at;
        snprintf(line, sizeof(line), "%d", fr->line);
        if (!put_field(&at, lw_frames_name(fr->file)) || !put_field(&at, line) ||
            !put_field(&at, lw_frames_name(fr->func))) {
            at = mark;
            break;
        }
        nframes++;
    }
    memset(&eng.group[0], 0, sizeof(eng.group[0]));
    eng.group[0].kind = LW_REC_SITE;
    eng.group[0].id = idx;
    /* pseudo-sites have negative lines (LW_OVERFLOW_LINE, LW_FREE_LIST_LINE, ...) */
    eng.group[0].u.site.line = idx == LW_SITE_OVERFLOW ? LW_OVERFLOW_LINE : s->key.line;
    eng.group[0].u.site.app_line = idx == LW_SITE_OVERFLOW ? LW_OVERFLOW_LINE : s->key.app_line;
    eng.group[0].u.site.text_len = (uint32_t)at;
    eng.group[0].u.site.nframes = nframes;
    n = add_text(1, eng.text, at);
    if (lw_ring_push(eng.ring, eng.group, n) < 0)
        return -1;
    si->defined = true;
    return 0;
}

/* The worker-local id of this request's endpoint, defined in the ring on first use. */
static uint32_t endpoint_id(const char *name)
{
    uint64_t h = UINT64_C(1469598103934665603);
    uint32_t slot, id;

    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * UINT64_C(1099511628211);
    /* open addressing over 2 x ENDPOINTS_MAX slots: a request costs a hash and a compare */
    for (slot = (uint32_t)(h % (2 * ENDPOINTS_MAX));; slot = (slot + 1) % (2 * ENDPOINTS_MAX)) {
        id = eng.endpoint_index[slot];
        if (id == 0 || !strcmp(eng.endpoints[id].name, name))
            break;
    }
    if (id == 0) {
        if (eng.nendpoints >= ENDPOINTS_MAX)
            return 0;
        id = eng.nendpoints++;
        snprintf(eng.endpoints[id].name, LW_ENDPOINT_MAX, "%s", name);
        eng.endpoint_index[slot] = id;
    }
    if (!eng.endpoints[id].defined) {
        size_t len = strlen(name);
        memset(&eng.group[0], 0, sizeof(eng.group[0]));
        eng.group[0].kind = LW_REC_ENDPOINT;
        eng.group[0].id = id;
        eng.group[0].u.site.text_len = (uint32_t)len;
        if (lw_ring_push(eng.ring, eng.group, add_text(1, name, len)) < 0)
            return 0;
        eng.endpoints[id].defined = true;
    }
    return id;
}

/* Pushes one delta (and its site's identity first, once). -1: ring full. */
static int publish_delta(const lw_site_delta_t *d, uint32_t endpoint)
{
    lw_record_t rec;

    if (!eng.info[d->site].defined && define_site(d->site) < 0)
        return -1;
    memset(&rec, 0, sizeof(rec));
    rec.kind = LW_REC_DELTA;
    rec.id = d->site;
    rec.u.delta.bytes = d->bytes;
    rec.u.delta.count = d->count;
    rec.u.delta.endpoint = endpoint;
    return lw_ring_push(eng.ring, &rec, 1);
}

/*
 * Do allocations still reach the hooks? An app may install allocator hooks
 * of its own on top of leakwatch's (PyMem_SetAllocator). tracemalloc.start()
 * does, and passes every call on to the allocator it found: leakwatch's, so
 * nothing changes. A hook that passes calls on to pymalloc directly (one
 * that captured the allocator before fork, say) hides allocations and, what
 * is worse, frees: a sampled block freed unseen would look alive forever and
 * make a leak of every line that churns. So when the allocator on top is not
 * ours, a probe allocation must move our sampler (its countdown, or a sample
 * in exact mode). Ours on top costs two reads per request.
 */
#define PROBE_BYTES 64

static bool hooks_reached(PyMemAllocatorDomain domain, struct chain *c)
{
    PyMemAllocatorEx top;
    int64_t remaining = c->sampler.remaining;
    uint64_t samples = eng.samples;
    bool reached;
    void *p;

    PyMem_GetAllocator(domain, &top);
    if (top.malloc == hook_malloc && top.ctx == c)
        return true;
    p = domain == PYMEM_DOMAIN_OBJ ? PyObject_Malloc(PROBE_BYTES) : PyMem_Malloc(PROBE_BYTES);
    reached = c->sampler.remaining != remaining || eng.samples != samples;
    if (domain == PYMEM_DOMAIN_OBJ)
        PyObject_Free(p);
    else
        PyMem_Free(p);
    return reached;
}

/* Allocations no longer reach the hooks: say so once, publish nothing more
 * (the sites keep their last values rather than grow with unseen frees). */
static void detach(void)
{
    eng.running = 0;
    uwsgi_log("[leakwatch] worker %d: the app replaced Python's allocator "
              "(PyMem_SetAllocator) with hooks that do not pass allocations on to "
              "leakwatch's; this worker's allocations are no longer seen, so leakwatch "
              "stops reporting its sites (hooks that chain to the allocator they find, "
              "like tracemalloc's, keep leakwatch working)\n",
              uwsgi.mywid);
}

size_t lw_engine_after_request(const char *path, size_t path_len)
{
    char endpoint[LW_ENDPOINT_MAX];
    size_t n, total = 0;
    uint32_t ep = 0;
    bool full = false;

    if (!eng.running)
        return 0;
    if (!hooks_reached(PYMEM_DOMAIN_MEM, &eng.mem) || !hooks_reached(PYMEM_DOMAIN_OBJ, &eng.obj)) {
        detach();
        return 0;
    }
    tls.guard = 1;
    eng.requests++;
    shelve_free_keys();
    apply_gc_policy();
    if (eng.ring && !eng.hello_sent)
        eng.hello_sent = lw_ring_push(eng.ring, &eng.hello, 1) == 0;
    if (!eng.ring || !eng.hello_sent || lw_ring_space(eng.ring) == 0) {
        /* no master to tell yet, or it is behind: keep coalescing in the table */
        tls.guard = 0;
        return 0;
    }
    lw_path_fold(path, path_len, endpoint, sizeof(endpoint));
    ep = endpoint_id(endpoint);
    /* Until the ring takes them, deltas stay in the site table, coalescing. */
    while (!full && (n = lw_sites_drain(&eng.sites, eng.deltas, DELTA_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct site_info *si = &eng.info[eng.deltas[i].site];
            if (full || publish_delta(&eng.deltas[i], ep) < 0) {
                full = true;
                lw_sites_unpublish(&eng.sites, &eng.deltas[i]);
                continue;
            }
            if (eng.deltas[i].bytes > 0) {
                si->grown_bytes += eng.deltas[i].bytes;
                memcpy(si->endpoint, endpoint, sizeof(endpoint));
            }
            total++;
        }
    }
    tls.guard = 0;
    return total;
}

void lw_engine_stats(lw_engine_stats_t *out)
{
    out->samples = eng.samples;
    out->lost = eng.lost + eng.sites.overflowed;
    out->sites = eng.running ? eng.sites.used : 0;
    out->tracked_bytes = eng.tracked;
    out->collections = eng.collections;
}

static void log_site(uint32_t idx)
{
    const lw_site_t *s = lw_sites_get(&eng.sites, idx);
    const struct site_info *si = &eng.info[idx];
    char live[32];

    if (idx == LW_SITE_OVERFLOW) {
        uwsgi_log("[leakwatch]   %s: %s live\n", site_file(idx, &s->key),
                  lw_size_format((uint64_t)(s->live_bytes > 0 ? s->live_bytes : 0), live,
                                 sizeof(live)));
        return;
    }
    uwsgi_log("[leakwatch]   %s:%d in %s(): %s live (%lld bytes), %.0f blocks, %llu samples, "
              "last grown by %s\n",
              site_file(idx, &s->key), s->key.line, lw_frames_name(s->key.func),
              lw_size_format((uint64_t)(s->live_bytes > 0 ? s->live_bytes : 0), live,
                             sizeof(live)),
              (long long)s->live_bytes, (double)s->live_count / (double)LW_COUNT_ONE,
              (unsigned long long)s->samples, si->endpoint[0] ? si->endpoint : "-");
    if (s->key.app_file && (s->key.app_file != s->key.file || s->key.app_func != s->key.func ||
                            s->key.app_line != s->key.line))
        uwsgi_log("[leakwatch]     from the application at %s:%d in %s()\n",
                  lw_frames_name(s->key.app_file), s->key.app_line,
                  lw_frames_name(s->key.app_func));
    for (int f = 0; f < si->nframes && f < 8; f++) {
        const lw_frame_t *fr = &eng.tracebacks[(size_t)idx * eng.frames + f];
        uwsgi_log("[leakwatch]     #%d %s:%d in %s()\n", f, lw_frames_name(fr->file), fr->line,
                  lw_frames_name(fr->func));
    }
}

/* Keeps best[0..*n) sorted by live bytes, at most `top` long. */
static void consider(uint32_t *best, int *n, int top, uint32_t site)
{
    int64_t live = eng.sites.sites[site].live_bytes;
    int at;

    if (live <= 0)
        return;
    if (*n < top)
        at = (*n)++;
    else if (live > eng.sites.sites[best[top - 1]].live_bytes)
        at = top - 1;
    else
        return;
    while (at > 0 && eng.sites.sites[best[at - 1]].live_bytes < live) {
        best[at] = best[at - 1];
        at--;
    }
    best[at] = site;
}

void lw_engine_log_sites(uint32_t wid, int top)
{
    uint32_t best[16];
    int nbest = 0;
    char tracked[32];

    if (!eng.running)
        return;
    if (top > 16)
        top = 16;
    tls.guard = 1;
    /* A scan of the table: fine every few seconds, never per request. */
    for (uint32_t i = 0; i < eng.sites.used; i++)
        consider(best, &nbest, top, i);
    uwsgi_log("[leakwatch] SITES worker %u pid %d after %llu requests: %s tracked in %u sites, "
              "%llu samples, %llu lost, %llu collections\n", wid, (int)getpid(),
              (unsigned long long)eng.requests,
              lw_size_format((uint64_t)(eng.tracked > 0 ? eng.tracked : 0), tracked,
                             sizeof(tracked)),
              eng.sites.used, (unsigned long long)eng.samples,
              (unsigned long long)(eng.lost + eng.sites.overflowed),
              (unsigned long long)eng.collections);
    for (int i = 0; i < nbest; i++)
        log_site(best[i]);
    tls.guard = 0;
}

/*
 * hooks.c - the worker's allocator hooks and the sampled state they keep
 * (see hooks.h). Nothing here calls Python, takes a lock or allocates from
 * Python's heap: the tables are mmap'd, and they grow by mmap.
 */
#include "pyversion.h" /* <Python.h>, every symbol weak */

#include <errno.h>
#include <sys/mman.h>

#include "../src/sampler.h"
#include "hooks.h"

#define PTRMAP_INITIAL 4096
#define PTRMAP_EXACT   65536
#define PTRMAP_MAX     (UINT64_C(1) << 22)

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

/* Per thread: the reentrancy guard. initial-exec: one %fs-relative access. */
struct lw_tls {
    int guard;
};
static __thread struct lw_tls tls __attribute__((tls_model("initial-exec")));

/* The worker's sampled state, written under the GIL (hooks, after-request). */
static struct {
    int frames;
    lw_sampler_t weights;            /* settings for lw_sampler_weight() */
    struct chain mem, obj;
    lw_sites_t sites;
    uint32_t shelf;                  /* the free lists' site */
    uint64_t watched;                /* lw_hooks_watch_size(), 0: none */
    void (*on_watched)(const void *); /* told of each new sample of that size */
    int64_t watched_live;            /* samples of that size outside the shelf */
    lw_ptrmap_t ptrs;
    lw_frame_t *tracebacks;          /* [LW_HOOKS_SITES * frames] */
    int *nframes;                    /* [LW_HOOKS_SITES] */
    uint64_t samples, lost;
    int64_t tracked;                 /* sum of live estimates */
    void (*after_sample)(void);      /* lw_hooks_after_sample */
    void (*poll)(void);              /* lw_hooks_hold: called by every allocation */
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

static inline bool watched_sized(uint64_t value)
{
    return lw_ptrmap_size_of(value) == eng.watched && lw_ptrmap_site_of(value) != eng.shelf;
}

/* A sample recorded: its weight goes to its site. */
static void admit_hooksafe(uint64_t value)
{
    lw_weight_t w = weight_of(lw_ptrmap_size_of(value));

    lw_sites_add_hooksafe(&eng.sites, lw_ptrmap_site_of(value), w);
    eng.tracked += w.bytes;
    eng.watched_live += watched_sized(value);
}

/* A sample whose block is gone (or moved to the shelf): its weight leaves
 * its site, as garbage when the cyclic collector freed it. */
static void retire_hooksafe(uint64_t value)
{
    lw_weight_t w = weight_of(lw_ptrmap_size_of(value));

    if (lw_frames_collecting_hooksafe())
        lw_sites_collected_hooksafe(&eng.sites, lw_ptrmap_site_of(value), w);
    else
        lw_sites_sub_hooksafe(&eng.sites, lw_ptrmap_site_of(value), w);
    eng.tracked -= w.bytes;
    eng.watched_live -= watched_sized(value);
}

static void forget_hooksafe(void *ptr)
{
    uint64_t value;

    if (lw_ptrmap_take_hooksafe(&eng.ptrs, (uintptr_t)ptr, &value))
        retire_hooksafe(value);
}

/* A new site's traceback, read now: nothing of the frames is kept. */
static void keep_site_identity_hooksafe(uint32_t site)
{
    eng.nframes[site] =
        lw_frames_traceback_hooksafe(&eng.tracebacks[(size_t)site * eng.frames], eng.frames);
}

/* The site of the running line (guard set by the caller). */
static uint32_t running_site_hooksafe(void)
{
    lw_site_key_t key;
    uint32_t site;

    if (lw_frames_site_hooksafe(&key) == -ENOSPC) { /* no room for its names */
        eng.sites.overflowed++;
        return LW_SITE_OVERFLOW;
    }
    if (lw_sites_intern_hooksafe(&eng.sites, &key, &site) == 1)
        keep_site_identity_hooksafe(site);
    return site;
}

/*
 * A sampled allocation: find its site and remember the pointer. Inside
 * leakwatch's own work (guard set) the sample point is skipped: the
 * process is memoryless, so skipping a point biases nothing.
 */
static void record_hooksafe(struct chain *c, void *ptr, size_t size)
{
    uint32_t site;
    uint64_t old, value;
    int rc;

    lw_sampler_rearm_hooksafe(&c->sampler);
    if (tls.guard)
        return;
    tls.guard = 1;
    {
        site = running_site_hooksafe();
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
            if (size == eng.watched && eng.on_watched)
                eng.on_watched(ptr);
        }
        if (eng.after_sample)
            eng.after_sample();
    }
    tls.guard = 0;
}

/*
 * The slow path of every allocation while held (lw_hooks_hold), else of
 * the sampled ones only: whether this one is sampled, after the watcher's
 * look, which comes after the allocation it follows (its line is the one
 * running). Not inside leakwatch's own work: its frames are not the app's.
 */
static bool due_hooksafe(struct chain *c, size_t size)
{
    bool due = lw_sampler_due_hooksafe(&c->sampler, size);

    if (c->sampler.held && !tls.guard) {
        tls.guard = 1;
        eng.poll();
        tls.guard = 0;
    }
    return due;
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

    if (p && due_hooksafe(c, size))
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
    if (p && due_hooksafe(c, nelem * elsize))
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
    if (lw_sampler_take_hooksafe(&c->sampler, size) && due_hooksafe(c, size))
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

static bool domain_reached(PyMemAllocatorDomain domain, struct chain *c)
{
    PyMemAllocatorEx top;
    int64_t remaining = lw_sampler_countdown(&c->sampler);
    uint64_t samples = eng.samples;
    bool reached;
    void *p;

    PyMem_GetAllocator(domain, &top);
    if (top.malloc == hook_malloc && top.ctx == c)
        return true;
    p = domain == PYMEM_DOMAIN_OBJ ? PyObject_Malloc(PROBE_BYTES) : PyMem_Malloc(PROBE_BYTES);
    reached = lw_sampler_countdown(&c->sampler) != remaining || eng.samples != samples;
    if (domain == PYMEM_DOMAIN_OBJ)
        PyObject_Free(p);
    else
        PyMem_Free(p);
    return reached;
}


/* The sampler must be set up before: the hooks use it from the first call. */
static void install(PyMemAllocatorDomain domain, struct chain *c)
{
    PyMemAllocatorEx hooks = {c, hook_malloc, hook_calloc, hook_realloc, hook_free};

    PyMem_GetAllocator(domain, &c->prev);
    PyMem_SetAllocator(domain, &hooks);
}

int lw_hooks_start(const lw_config_t *cfg, uint64_t seed)
{
    static const lw_site_key_t shelf = {.line = LW_LINE_SHELF};
    uint64_t cap = cfg->exact ? PTRMAP_EXACT : PTRMAP_INITIAL;
    uint64_t mean = lw_config_sample_interval(cfg);
    void *sites_mem = map_zeroed(lw_sites_bytes(LW_HOOKS_SITES));
    void *ptrs_mem = map_zeroed(lw_ptrmap_bytes(cap));

    eng.frames = (int)cfg->frames;
    eng.tracebacks = map_zeroed(sizeof(lw_frame_t) * LW_HOOKS_SITES * (size_t)eng.frames);
    eng.nframes = map_zeroed(sizeof(int) * LW_HOOKS_SITES);
    if (!sites_mem || !ptrs_mem || !eng.tracebacks || !eng.nframes ||
        lw_sites_init(&eng.sites, sites_mem, LW_HOOKS_SITES) < 0 ||
        lw_ptrmap_init(&eng.ptrs, ptrs_mem, cap) < 0)
        return -ENOMEM;
    lw_sites_intern_hooksafe(&eng.sites, &shelf, &eng.shelf); /* a new table: room */
    lw_sampler_init(&eng.weights, mean, cfg->exact, 1);
    lw_sampler_init(&eng.mem.sampler, mean, cfg->exact, seed);
    lw_sampler_init(&eng.obj.sampler, mean, cfg->exact, ~seed);
    install(PYMEM_DOMAIN_MEM, &eng.mem);
    install(PYMEM_DOMAIN_OBJ, &eng.obj);
    return 0;
}

bool lw_hooks_reached(void)
{
    return domain_reached(PYMEM_DOMAIN_MEM, &eng.mem) && domain_reached(PYMEM_DOMAIN_OBJ, &eng.obj);
}

void lw_hooks_after_sample(void (*fn)(void))
{
    eng.after_sample = fn;
}

void lw_hooks_guard(bool on)
{
    tls.guard = on;
}

lw_sites_t *lw_hooks_sites(void)
{
    return &eng.sites;
}

const lw_frame_t *lw_hooks_traceback(uint32_t site, int *n)
{
    *n = site < LW_HOOKS_SITES ? eng.nframes[site] : 0;
    return &eng.tracebacks[(size_t)site * eng.frames];
}

void lw_hooks_stats(lw_hooks_stats_t *out)
{
    out->samples = eng.samples;
    out->lost = eng.lost + eng.sites.overflowed;
    out->tracked = eng.tracked;
}

const lw_ptrmap_t *lw_hooks_ptrmap(void)
{
    return &eng.ptrs;
}

/* A sampled block's bytes move to `site`. */
static void move_hooksafe(uint64_t *value, uint32_t site)
{
    retire_hooksafe(*value);
    *value = lw_ptrmap_pack(lw_ptrmap_size_of(*value), site);
    admit_hooksafe(*value);
}

/* The slow path of a dying object's block: moved to the shelf if sampled. */
bool lw_hooks_shelve_hooksafe(const void *block)
{
    uint64_t *value = lw_ptrmap_find_hooksafe(&eng.ptrs, (uintptr_t)block);

    if (!value) /* a false positive */
        return false;
    if (lw_ptrmap_site_of(*value) != eng.shelf)
        move_hooksafe(value, eng.shelf);
    return true;
}

void lw_hooks_revive_hooksafe(const void *block)
{
    uint64_t *value = lw_ptrmap_find_hooksafe(&eng.ptrs, (uintptr_t)block);

    /* freed since (gone), or freed and its address sampled anew (elsewhere) */
    if (value && lw_ptrmap_site_of(*value) == eng.shelf)
        move_hooksafe(value, running_site_hooksafe());
}

void lw_hooks_hold(void (*poll)(void))
{
    eng.poll = poll;
    lw_sampler_hold(&eng.mem.sampler);
    lw_sampler_hold(&eng.obj.sampler);
}

void lw_hooks_release(void)
{
    lw_sampler_release(&eng.mem.sampler);
    lw_sampler_release(&eng.obj.sampler);
}

void lw_hooks_watch_size(uint64_t bytes, void (*on_sample)(const void *block))
{
    eng.watched = bytes;
    eng.on_watched = on_sample;
}

int64_t lw_hooks_watched_live(void)
{
    return eng.watched_live;
}

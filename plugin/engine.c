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
#include <Python.h>
#include <uwsgi.h>

#include <sys/mman.h>

#include "../src/path.h"
#include "../src/ptrmap.h"
#include "../src/sampler.h"
#include "../src/size.h"
#include "engine.h"
#include "frames.h"

#define SITES_CAPACITY 16384
#define PTRMAP_INITIAL 4096
#define PTRMAP_EXACT   65536
#define PTRMAP_MAX     (UINT64_C(1) << 22)
#define DELTA_BATCH    256
#define AUTO_GC_MIN_US (10 * UINT64_C(1000000))

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
    int64_t grown_bytes;             /* sum of positive deltas */
    char endpoint[LW_ENDPOINT_MAX];  /* last endpoint that grew the site */
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
    lw_ptrmap_t ptrs;
    struct site_info *info;          /* [SITES_CAPACITY] */
    lw_frame_t *tracebacks;          /* [SITES_CAPACITY * frames] */
    lw_site_delta_t deltas[DELTA_BATCH];
    uint64_t samples, lost, collections, requests;
    int64_t tracked;                 /* sum of live estimates */
    int64_t tracked_at_gc;
    uint64_t last_gc_us;
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

static void forget_hooksafe(void *ptr)
{
    uint64_t value;

    if (lw_ptrmap_take_hooksafe(&eng.ptrs, (uintptr_t)ptr, &value)) {
        lw_weight_t w = weight_of(lw_ptrmap_size_of(value));
        lw_sites_sub_hooksafe(&eng.sites, lw_ptrmap_site_of(value), w);
        eng.tracked -= w.bytes;
    }
}

static void keep_site_identity_hooksafe(uint32_t site, const lw_site_key_t *key)
{
    if (key->code)
        Py_INCREF((PyObject *)key->code);
    if (key->app_code)
        Py_INCREF((PyObject *)key->app_code);
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
    lw_weight_t w;
    uint32_t site;
    uint64_t old;
    int rc;

    lw_sampler_rearm_hooksafe(&c->sampler);
    if (tls.guard)
        return;
    tls.guard = 1;
    {
        lw_frames_site_hooksafe(&key);
        if (lw_sites_intern_hooksafe(&eng.sites, &key, &site) == 1)
            keep_site_identity_hooksafe(site, &key);
        grow_ptrmap();
        rc = lw_ptrmap_put_hooksafe(&eng.ptrs, (uintptr_t)ptr, lw_ptrmap_pack(size, site), &old);
        if (rc < 0) {
            eng.lost++;
        }
        else {
            if (rc == 1) { /* a stale entry: its free was never seen */
                lw_weight_t ow = weight_of(lw_ptrmap_size_of(old));
                lw_sites_sub_hooksafe(&eng.sites, lw_ptrmap_site_of(old), ow);
                eng.tracked -= ow.bytes;
            }
            w = weight_of(size);
            lw_sites_add_hooksafe(&eng.sites, site, w);
            eng.tracked += w.bytes;
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
    eng.tracebacks = map_zeroed(sizeof(lw_frame_t) * SITES_CAPACITY * (size_t)eng.frames);
    if (!sites_mem || !ptrs_mem || !eng.info || !eng.tracebacks ||
        lw_sites_init(&eng.sites, sites_mem, SITES_CAPACITY) < 0 ||
        lw_ptrmap_init(&eng.ptrs, ptrs_mem, cap) < 0) {
        uwsgi_log("[leakwatch] worker %d: cannot map its tables; running untracked\n",
                  uwsgi.mywid);
        return -1;
    }
    if (lw_frames_init() < 0)
        uwsgi_log("[leakwatch] worker %d: sysconfig unavailable; only site-/dist-packages "
                  "count as libraries\n", uwsgi.mywid);
    lw_sampler_init(&eng.weights, eng.mean, eng.exact, 1);
    lw_sampler_init(&eng.mem.sampler, eng.mean, eng.exact, seed);
    lw_sampler_init(&eng.obj.sampler, eng.mean, eng.exact, ~seed);
    eng.last_gc_us = uwsgi_micros();
    install(PYMEM_DOMAIN_MEM, &eng.mem);
    install(PYMEM_DOMAIN_OBJ, &eng.obj);
    eng.running = 1;
    return 0;
}

/* The gc policy. Cyclic garbage awaiting collection must not look like growth. */
static void apply_gc_policy(void)
{
    const lw_config_t *cfg = eng.cfg;
    uint64_t now;
    int collect = 0;

    if (cfg->gc == LW_GC_EVERY) {
        collect = eng.requests % cfg->gc_every == 0;
    }
    else if (cfg->gc == LW_GC_AUTO) {
        /* Before tracked memory could pass the threshold unexplained, make
         * sure it is not garbage; at most once per AUTO_GC_MIN_US. */
        now = uwsgi_micros();
        collect = eng.tracked - eng.tracked_at_gc >= (int64_t)(cfg->threshold / 2) &&
                  now - eng.last_gc_us >= AUTO_GC_MIN_US;
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
    eng.last_gc_us = uwsgi_micros();
}

size_t lw_engine_after_request(const char *path, size_t path_len)
{
    char endpoint[LW_ENDPOINT_MAX];
    size_t n, total = 0;

    if (!eng.running)
        return 0;
    tls.guard = 1;
    eng.requests++;
    apply_gc_policy();
    lw_path_fold(path, path_len, endpoint, sizeof(endpoint));
    /* Batches until the dirty list is empty: nothing stays behind. The
     * deltas are what the rings will carry; for now they feed site_info. */
    while ((n = lw_sites_drain(&eng.sites, eng.deltas, DELTA_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct site_info *si = &eng.info[eng.deltas[i].site];
            if (eng.deltas[i].bytes > 0) {
                si->grown_bytes += eng.deltas[i].bytes;
                memcpy(si->endpoint, endpoint, sizeof(endpoint));
            }
        }
        total += n;
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
        uwsgi_log("[leakwatch]   <other sites: table full>: %s live\n",
                  lw_size_format((uint64_t)(s->live_bytes > 0 ? s->live_bytes : 0), live,
                                 sizeof(live)));
        return;
    }
    uwsgi_log("[leakwatch]   %s:%d in %s(): %s live (%lld bytes), %.0f blocks, %llu samples, "
              "last grown by %s\n",
              s->key.code ? lw_frames_filename(s->key.code) : "<no Python frame>", s->key.line,
              lw_frames_funcname(s->key.code),
              lw_size_format((uint64_t)(s->live_bytes > 0 ? s->live_bytes : 0), live,
                             sizeof(live)),
              (long long)s->live_bytes, (double)s->live_count / (double)LW_COUNT_ONE,
              (unsigned long long)s->samples, si->endpoint[0] ? si->endpoint : "-");
    if (s->key.app_code && (s->key.app_code != s->key.code || s->key.app_line != s->key.line))
        uwsgi_log("[leakwatch]     from the application at %s:%d in %s()\n",
                  lw_frames_filename(s->key.app_code), s->key.app_line,
                  lw_frames_funcname(s->key.app_code));
    for (int f = 0; f < si->nframes && f < 8; f++) {
        const lw_frame_t *fr = &eng.tracebacks[(size_t)idx * eng.frames + f];
        uwsgi_log("[leakwatch]     #%d %s:%d in %s()\n", f,
                  lw_frames_filename((uintptr_t)fr->code), lw_frames_line(fr),
                  lw_frames_funcname((uintptr_t)fr->code));
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

/*
 * floor.c - make bench's pass-through plugin: the floor of any design built
 * on CPython's allocator hooks. In each worker (post_fork, as leakwatch
 * installs its own) it puts hooks on the PYMEM_DOMAIN_MEM and _OBJ
 * allocators that pass every call on to the allocator they found, recording
 * nothing: what the hooks cost by being there (pymalloc reached through a
 * pointer instead of inlined into PyObject_Malloc's callers), and nothing
 * else. leakwatch's hooks have the same shape (ctx: the chained allocator;
 * the common path a tail call), so "defaults" against "floor" is what
 * leakwatch's sampling, free-list hooks and per-request work add.
 *
 *     uwsgi --plugin python3 --plugin build/bench/floor_plugin.so ...
 *
 * Bench only: not installed, not part of leakwatch_plugin.so.
 */
#include <uwsgi.h>
#include <Python.h>

extern struct uwsgi_server uwsgi;

struct chain {
    PyMemAllocatorEx prev;
};

static struct chain mem, obj;

static void *floor_malloc(void *ctx, size_t size)
{
    struct chain *c = ctx;

    return c->prev.malloc(c->prev.ctx, size);
}

static void *floor_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct chain *c = ctx;

    return c->prev.calloc(c->prev.ctx, nelem, elsize);
}

static void *floor_realloc(void *ctx, void *ptr, size_t size)
{
    struct chain *c = ctx;

    return c->prev.realloc(c->prev.ctx, ptr, size);
}

static void floor_free(void *ctx, void *ptr)
{
    struct chain *c = ctx;

    c->prev.free(c->prev.ctx, ptr);
}

static void install(PyMemAllocatorDomain domain, struct chain *c)
{
    PyMemAllocatorEx hooks = {c, floor_malloc, floor_calloc, floor_realloc, floor_free};

    PyMem_GetAllocator(domain, &c->prev);
    PyMem_SetAllocator(domain, &hooks);
}

static void floor_post_fork(void)
{
    PyGILState_STATE gil;

    if (!Py_IsInitialized())
        return;
    gil = PyGILState_Ensure();
    install(PYMEM_DOMAIN_MEM, &mem);
    install(PYMEM_DOMAIN_OBJ, &obj);
    PyGILState_Release(gil);
    uwsgi_log("[floor] worker %d: pass-through allocator hooks installed\n", uwsgi.mywid);
}

struct uwsgi_plugin floor_plugin = {
    .name = "floor",
    .post_fork = floor_post_fork,
};

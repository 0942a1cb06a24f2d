"""What buggy C extensions do, through ctypes: a block allocated by one
family of CPython's allocator functions and freed (or resized) by another.
CPython tolerates these: pymalloc serves both the PyMem_ and the PyObject_
family, passes blocks past 512 bytes to libc's malloc, and frees an address
it does not own with libc's free. Each route does one kind of mismatch,
ROUNDS times per request, at sizes from 8 bytes to 256 KiB; the query
string `?small` keeps to sizes pymalloc owns (libc's free must not get
those), `?large` to sizes it passes on."""
import ctypes

api = ctypes.pythonapi
libc = ctypes.CDLL(None)
ROUNDS = 64
SMALL = [8, 24, 64, 200, 512]
LARGE = [513, 4096, 65536, 262144]


def fn(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype, f.argtypes = restype, list(argtypes)
    return f


vp, sz = ctypes.c_void_p, ctypes.c_size_t
ALLOC = {name: fn(api, name, vp, sz) for name in
         ("PyMem_Malloc", "PyObject_Malloc", "PyMem_RawMalloc")}
ALLOC["malloc"] = fn(libc, "malloc", vp, sz)
FREE = {name: fn(api, name, None, vp) for name in
        ("PyMem_Free", "PyObject_Free", "PyMem_RawFree")}
FREE["free"] = fn(libc, "free", None, vp)
REALLOC = {name: fn(api, name, vp, vp, sz) for name in ("PyMem_Realloc", "PyObject_Realloc")}

# route: (allocate with, resize with or None, free with, sizes)
ROUTES = {
    "/mem-obj": ("PyMem_Malloc", None, "PyObject_Free", SMALL + LARGE),
    "/obj-mem": ("PyObject_Malloc", None, "PyMem_Free", SMALL + LARGE),
    "/mem-libc": ("PyMem_Malloc", None, "free", LARGE),
    "/obj-libc": ("PyObject_Malloc", None, "free", LARGE),
    "/raw-mem": ("PyMem_RawMalloc", None, "PyMem_Free", SMALL + LARGE),
    "/libc-obj": ("malloc", None, "PyObject_Free", SMALL + LARGE),
    "/mem-objrealloc-mem": ("PyMem_Malloc", "PyObject_Realloc", "PyMem_Free", SMALL + LARGE),
    "/obj-memrealloc-libc": ("PyObject_Malloc", "PyMem_Realloc", "free", LARGE),
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path in ROUTES:
        alloc, resize, free, sizes = ROUTES[path]
        for i in range(ROUNDS):
            size = sizes[i % len(sizes)]
            p = ALLOC[alloc](size)
            ctypes.memset(p, i & 0xff, size)
            if resize:
                size = sizes[(i + 1) % len(sizes)]
                p = REALLOC[resize](p, size)
                ctypes.memset(p, i & 0xff, size)
            FREE[free](p)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

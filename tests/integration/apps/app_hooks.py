"""An app that does what apps do to the runtime: gc.disable() at import,
cyclic garbage on every request, tracemalloc.start() on /tracemalloc, and on
/bypass allocator hooks of its own that skip leakwatch's (the allocator it
captured at import, before fork: pymalloc itself). /leak leaks 16 KiB."""
import ctypes
import gc
import tracemalloc

gc.disable()

MEM, OBJ = 1, 2


class Allocator(ctypes.Structure):
    _fields_ = [(name, ctypes.c_void_p) for name in ("ctx", "malloc", "calloc", "realloc", "free")]


_get = ctypes.pythonapi.PyMem_GetAllocator
_get.argtypes, _get.restype = [ctypes.c_int, ctypes.POINTER(Allocator)], None
_set = ctypes.pythonapi.PyMem_SetAllocator
_set.argtypes, _set.restype = [ctypes.c_int, ctypes.POINTER(Allocator)], None
CAPTURED = {domain: Allocator() for domain in (MEM, OBJ)}
for _domain, _allocator in CAPTURED.items():
    _get(_domain, ctypes.byref(_allocator))  # in the master: no leakwatch hooks yet

LEAK = []


class Node:
    def __init__(self):
        self.payload = b"g" * 10240  # GARBAGE-LINE
        self.me = self


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/leak":
        LEAK.append(b"x" * 16384)  # LEAK-LINE
        body = b"leaked\n"
    elif path == "/tracemalloc":
        if not tracemalloc.is_tracing():
            tracemalloc.start()
        body = f"tracing {tracemalloc.is_tracing()} {tracemalloc.get_traced_memory()[0]}\n".encode()
    elif path == "/bypass":
        for domain, allocator in CAPTURED.items():
            _set(domain, ctypes.byref(allocator))
        body = b"bypassed\n"
    else:
        Node()
        body = b"ok\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

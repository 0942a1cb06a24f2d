"""Leaks native memory: 64 KiB from C malloc per request, touched, never freed
(a C extension's leak, invisible to Python's allocators)."""
import ctypes

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
SIZE = 65536


def application(environ, start_response):
    p = libc.malloc(SIZE)
    ctypes.memset(p, 1, SIZE)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

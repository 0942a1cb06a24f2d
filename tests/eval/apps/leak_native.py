# EVAL {"expect": "native", "threshold": "4M", "rate": 65536, "full_speed": true, "paths": ["/thumbnail?img={n}"]}
"""A native leak: a C buffer from libc malloc (through ctypes) is filled
and never freed, as a C extension that forgets a free would. Python's
allocator never sees it; only the worker's RSS does."""
import ctypes

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]


def application(environ, start_response):
    buf = libc.malloc(65536)
    libc.memset(buf, 1, 65536)  # touched, so resident
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

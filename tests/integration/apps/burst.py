"""Grows RSS once, in a burst of large temporary allocations on the first
requests, then stays flat: allocator retention, not a leak."""
import ctypes

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
COUNTER = [0]
KEEP = []


def application(environ, start_response):
    COUNTER[0] += 1
    if COUNTER[0] <= 20:
        # a burst: many small blocks, most freed, fragmenting the heap
        blocks = [libc.malloc(4096) for _ in range(2000)]
        for b in blocks:
            ctypes.memset(b, 1, 4096)
        for b in blocks[::2]:
            libc.free(b)
        KEEP.extend(blocks[1::2])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

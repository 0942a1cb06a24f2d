"""Grows RSS once, in a burst of large temporary allocations (40,000
blocks of 4 KiB, half of them kept) spread over BURST_REQUESTS requests
(default 20) from request BURST_AFTER + 1 of the worker (default 0), then
stays flat: allocator retention, not a leak."""
import ctypes
import os

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
AFTER = int(os.environ.get("BURST_AFTER", "0"))
SPREAD = int(os.environ.get("BURST_REQUESTS", "20"))
COUNTER = [0]
KEEP = []


def application(environ, start_response):
    COUNTER[0] += 1
    if AFTER < COUNTER[0] <= AFTER + SPREAD:
        # a burst: many small blocks, most freed, fragmenting the heap
        blocks = [libc.malloc(4096) for _ in range(40000 // SPREAD)]
        for b in blocks:
            ctypes.memset(b, 1, 4096)
        for b in blocks[::2]:
            libc.free(b)
        KEEP.extend(blocks[1::2])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

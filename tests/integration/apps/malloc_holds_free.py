"""RSS that grows like a leak while all of it is memory malloc holds free:
each request mallocs a buffer 64 KiB larger than the last, touches it and
frees it, and malloc keeps what it freed (the app tells glibc never to
give memory back: M_TRIM_THRESHOLD, and to serve these sizes from its
heap: M_MMAP_THRESHOLD). RSS grows 64 KiB a request; nothing stays
allocated. glibc's per-thread arenas keep freed memory the same way
(make eval, ok_thread_caches.py)."""
import ctypes

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
BLOCK = 65536
served = 0


def application(environ, start_response):
    global served
    served += 1
    size = BLOCK * min(served, 400)  # 25 MiB at most: under the mmap threshold
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

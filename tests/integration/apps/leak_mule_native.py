"""A mule (--mule=leak_mule_native.py) whose C library keeps a 64 KiB
buffer every 50 ms and never frees it (libc malloc through ctypes): native
growth in a process that serves no request."""
import ctypes
import time

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

while True:
    buf = libc.malloc(65536)
    libc.memset(buf, 1, 65536)  # touched, so resident
    time.sleep(0.05)

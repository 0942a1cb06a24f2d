# EVAL {"expect": "none", "threshold": "512k", "args": ["--threads", "4"], "paths": ["/item?n={n}"]}
"""A bounded cache per thread under --threads 4: each thread keeps its own
dict of renderings for a fixed set of 150 keys (about 1.1 KiB each), drawn
at random, so it fills like a coupon collector - fast at first, slower and
slower - then stays flat. The whole server's bound, 2 workers x 4 threads,
is about 1.3 MiB: some 2.6 T, a decelerating fill that must stay quiet.
Its items are above pymalloc's 512 bytes: each thread mallocs them from a
glibc arena of its own, which keeps what it frees (the NATIVE line this app
got in some runs until workers published malloc's free bytes, native.h)."""
import random
import threading

KEYS = 150
LOCAL = threading.local()


def application(environ, start_response):
    cache = getattr(LOCAL, "cache", None)
    if cache is None:
        cache = LOCAL.cache = {}
    key = random.randrange(KEYS)
    if key not in cache:
        cache[key] = ("item %d " % key) * 96
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [cache[key][:16].encode()]

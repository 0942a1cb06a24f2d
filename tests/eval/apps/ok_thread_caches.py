# EVAL {"expect": "none", "threshold": "512k", "args": ["--threads", "4"], "paths": ["/item?n={n}"], "known_limit": "a NATIVE line in some runs: about 1 MiB of RSS past the tracked Python bytes under 4 threads (2 of 10 runs of commit 5154c78, 5 of 15 of later builds, 2026-11-26): glibc keeps freed memory per thread arena (0 of 24 runs with MALLOC_ARENA_MAX=1, 3 of 12 without, 2026-11-27); see README"}
"""A bounded cache per thread under --threads 4: each thread keeps its own
dict of renderings for a fixed set of 150 keys (about 1.1 KiB each), drawn
at random, so it fills like a coupon collector - fast at first, slower and
slower - then stays flat. The whole server's bound, 2 workers x 4 threads,
is about 1.3 MiB: some 2.6 T, a decelerating fill that must stay quiet."""
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

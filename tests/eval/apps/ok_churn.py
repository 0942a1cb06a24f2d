# EVAL {"expect": "none", "paths": ["/work?id={n}"]}
"""Allocator churn and fragmentation: a working set of 4,000 objects of
random sizes (16 B to 16 KiB) in which each request replaces 300 at random
positions. Live bytes stay bounded; pymalloc pools and arenas and the libc
heap fragment, so RSS grows past what is live and then plateaus."""
import random

rng = random.Random(5)
WORKING = [b""] * 4000


def application(environ, start_response):
    for _ in range(300):
        size = int(16 * (1024 ** rng.random()))  # log-uniform 16 B .. 16 KiB
        WORKING[rng.randrange(len(WORKING))] = bytes(size)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

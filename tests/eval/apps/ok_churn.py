# EVAL {"expect": "none", "paths": ["/work?id={n}"]}
"""Allocator churn and fragmentation: a working set of 4,000 objects of
random sizes (16 B to 16 KiB, about 9 MiB), built by each worker's first
request, in which every request then replaces 300 at random positions.
Live bytes stay about constant while the sampled estimate wanders (a
fresh draw of samples as blocks turn over); pymalloc pools and arenas and
the libc heap fragment, so RSS grows past what is live and then plateaus.
(Built at import instead, in the master before fork, the set would be
invisible to the workers' hooks until replaced: a fill, as in
ok_churn_filling.py.)"""
import random

rng = random.Random(5)
WORKING = []


def random_block():
    return bytes(int(16 * (1024 ** rng.random())))  # log-uniform 16 B .. 16 KiB


def application(environ, start_response):
    if not WORKING:
        WORKING.extend(random_block() for _ in range(4000))
    for _ in range(300):
        WORKING[rng.randrange(len(WORKING))] = random_block()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

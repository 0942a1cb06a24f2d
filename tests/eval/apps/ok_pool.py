# EVAL {"expect": "none", "paths": ["/query?id={n}"]}
"""A pool filling to its maximum: connections (each with 64 KiB of buffers)
are created on demand when none is idle, up to 16; a request needs 1 to 16
at once, large needs being rare, so the pool grows quickly at first, then
rarely, then never."""
import random

MAX = 16
IDLE = []
CREATED = [0]
rng = random.Random(1)


class Connection:
    def __init__(self):
        self.buffer = bytearray(65536)


def checkout():
    if IDLE:
        return IDLE.pop()
    if CREATED[0] < MAX:
        CREATED[0] += 1
        return Connection()
    return None


def application(environ, start_response):
    need = min(MAX, int(rng.paretovariate(1.2)))
    held = [c for c in (checkout() for _ in range(need)) if c is not None]
    IDLE.extend(held)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d\n" % len(held)]

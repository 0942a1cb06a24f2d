"""A module-level cache keyed by request data, never evicted: the leak is
held by the module's CACHE (a dict of strings to bytes, which CPython does
not track for the collector: issue 18)."""
import itertools

CACHE = {}
COUNTER = itertools.count()


def application(environ, start_response):
    CACHE[f"{environ['PATH_INFO']}-{next(COUNTER)}"] = bytes(2048)  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

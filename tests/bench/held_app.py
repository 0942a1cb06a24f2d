"""The held-by walk's benchmark app (tests/bench/held.py): a heap of
LEAKWATCH_BENCH_OBJECTS tracked objects (default 1,000,000) built at
import, beside a class-level list that /leak grows by 2 KiB a request.
/tiny does next to nothing."""
import os

N = int(os.environ.get("LEAKWATCH_BENCH_OBJECTS", "1000000"))


class Node:
    __slots__ = ("next", "value")

    def __init__(self, value, following):
        self.value = value
        self.next = following


class Profiler:
    records = []


# a linked chain of tracked objects, and the same objects in a list
HEAP = []
_tail = None
for _i in range(N):
    _tail = Node(_i, _tail)
    HEAP.append(_tail)
del _tail


def application(environ, start_response):
    if environ["PATH_INFO"] == "/leak":
        Profiler.records.append(bytes(2048))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

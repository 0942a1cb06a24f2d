"""Growth that stops, of several shapes, one per endpoint. None is a leak."""
import gc
import sys

gc.disable()  # cyclic garbage is left to leakwatch's gc policy

CACHE = {}
TABLE = None
SAW = []
COUNTER = [0]


class Node:
    def __init__(self):
        self.payload = b"x" * 10240
        self.me = self


def cache():
    # a bounded cache: 3000 entries of ~550 bytes, then replacements only
    COUNTER[0] += 1
    CACHE[COUNTER[0] % 3000] = "v" * 500 + str(COUNTER[0])


def lazy():
    # lazy initialisation: 6 MB built on the first call, then nothing
    global TABLE
    if TABLE is None:
        TABLE = [str(i) * 10 for i in range(100000)]


def cycles():
    Node()  # 10 KiB of cyclic garbage per request


def saw():
    # a buffer of up to 1 MB, emptied every 100 requests: two workers' in
    # phase peak just under the default threshold together (a buffer past
    # it rises as a leak does until it is emptied: README, Limits)
    SAW.append(bytes(10240))
    if len(SAW) > 100:
        SAW.clear()


def intern():
    # bounded interning: 500 distinct strings, asked for again and again
    COUNTER[0] += 1
    sys.intern("key-%d" % (COUNTER[0] % 500))


ROUTES = {"/cache": cache, "/lazy": lazy, "/cycles": cycles, "/saw": saw, "/intern": intern}


def application(environ, start_response):
    ROUTES.get(environ.get("PATH_INFO"), lambda: None)()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

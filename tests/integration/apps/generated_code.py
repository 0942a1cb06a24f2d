"""Code compiled per request, the way namedtuple() does it: a class built per
request, one instance made (its generated __new__ allocates the tuple), and
both dropped. Answers "<requests> <code objects of past requests still alive>"."""
import collections
import gc
import weakref

CODES = []


def application(environ, start_response):
    point = collections.namedtuple("Point", ["x", "y"])
    instance = point(1, [])
    CODES.append(weakref.ref(point.__new__.__code__))
    del point, instance
    gc.collect()  # the class and its methods are a cycle
    alive = sum(ref() is not None for ref in CODES)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d %d\n" % (len(CODES), alive)]

"""CPython's free lists: a block dies at one line and is revived at another.

/         a scratch list dies at the donor line; a new list is kept per request
/keys     100 times a request, a small dict dies at the donor line (its key
          table goes to the key tables' free list with it) and a new small
          dict is kept: once the free list is drained, every kept dict's
          table is one the donor line allocated
/resize   odd requests make 80 small dicts at the donor line, then grow
          them, which frees their first, small key tables to the free list
          without the dicts dying; even requests keep 80 new small dicts
/grown    a dict outgrows its first, small key table (to the free list, the
          dict lives on), then a new small dict is kept, in a tuple with a
          new list: its key table is the one the growing line allocated
/deep     chains of 1,000,000 nested lists, tuples and dicts are built and dropped:
          their deallocation recurses unless CPython's trashcan bounds it
"""
import itertools

KEPT = []
TURNS = itertools.count()


def deep():
    for wrap in (lambda x: [x], lambda x: (x,), lambda x: {"next": x}):
        chain = None
        for _ in range(1000000):
            chain = wrap(chain)
        del chain


def lists(environ):
    scratch = [1, 2, 3]  # DONOR-LINE
    del scratch
    KEPT.append([environ["QUERY_STRING"]])  # LEAK-LINE


def keys(environ):
    for i in range(100):
        scratch = {"scratch": i}  # DONOR-KEYS-LINE
        del scratch
        KEPT.append({"kept": i})


MORE = {"k%d" % i: i for i in range(1, 8)}


def resize(environ):
    if next(TURNS) % 2:
        grown = [{"k0": i} for i in range(80)]  # DONOR-RESIZE-LINE
        for d in grown:
            d.update(MORE)
        del grown
    else:
        KEPT.extend({"kept": i} for i in range(80))


def grown(environ):
    table = {}
    for i in range(8):
        table["k%d" % i] = i  # GROWN-LINE
    KEPT.append(({"kept": i}, [i] * 4))  # KEEP-GROWN-LINE


ROUTES = {"/": lists, "/keys": keys, "/resize": resize, "/grown": grown}


def application(environ, start_response):
    if environ["PATH_INFO"] == "/deep":
        deep()
    else:
        ROUTES[environ["PATH_INFO"]](environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

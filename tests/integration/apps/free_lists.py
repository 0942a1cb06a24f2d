"""CPython's free lists: a list dies at one line and is revived at another.

/       a scratch list dies at the donor line; a new list is kept per request
/deep   chains of 1,000,000 nested lists, tuples and dicts are built and dropped:
        their deallocation recurses unless CPython's trashcan bounds it
"""
KEPT = []


def deep():
    for wrap in (lambda x: [x], lambda x: (x,), lambda x: {"next": x}):
        chain = None
        for _ in range(1000000):
            chain = wrap(chain)
        del chain


def application(environ, start_response):
    if environ["PATH_INFO"] == "/deep":
        deep()
    else:
        scratch = [1, 2, 3]  # DONOR-LINE
        del scratch
        KEPT.append([environ["QUERY_STRING"]])  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

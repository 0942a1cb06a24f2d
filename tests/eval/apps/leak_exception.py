# EVAL {"expect": "leak", "threshold": "256k", "paths": ["/lookup?key={n}"], "also": ["<no Python frame>"], "holder": "NOT_FOUND"}
"""An exception instance created once at module level and raised again on
every miss: each raise prepends to its __traceback__, which keeps every
request's frames (and their locals) alive. uWSGI 2.0 gives every request
the same environ dict and clears it after (--wsgi-env-behaviour cheat, its
default), so the frames keep one environ; under "holy" (2.1's default) each
keeps its own, which uWSGI built in C: a leak at "<no Python frame>" is a
right answer then."""

NOT_FOUND = KeyError("not found")
TABLE = {"a": 1}


def lookup(key):
    if key not in TABLE:
        raise NOT_FOUND  # LEAK-LINE
    return TABLE[key]


def application(environ, start_response):
    key = environ["QUERY_STRING"].partition("=")[2]  # LEAK-LINE
    try:
        value = lookup(key)  # LEAK-LINE
    except KeyError:
        value = None
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(value).encode()]

"""A module-level exception raised again on every miss: each raise adds a
traceback to its chain, which keeps every request's frames alive. What
holds them is a chain of tracebacks, hundreds long, held by the exception,
a module global (issue 18: the walk climbs it to its end)."""
NOT_FOUND = KeyError("not found")


def lookup(key):
    raise NOT_FOUND  # LEAK-LINE


def application(environ, start_response):
    try:
        lookup(environ["PATH_INFO"] + "x" * 256)
    except KeyError:
        pass
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

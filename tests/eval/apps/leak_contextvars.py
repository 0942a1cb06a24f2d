# EVAL {"expect": "leak", "threshold": "128k", "paths": ["/tenant?id={n}"], "also": ["<no Python frame>", "<CPython free lists>"]}
"""A ContextVar created per request and set in the worker's context: the
context is the thread's and outlives the request, so each new variable and
its value stay in it. Part of what it keeps is allocated where no Python
frame runs: tracemalloc in the same uWSGI worker sees ~550 B per request
grow at "<unknown>" too, so "<no Python frame>" is a right answer here."""
import contextvars


def application(environ, start_response):
    tenant = environ["QUERY_STRING"].partition("=")[2]
    var = contextvars.ContextVar(f"tenant_{tenant}")  # LEAK-LINE
    var.set({"tenant": tenant})  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

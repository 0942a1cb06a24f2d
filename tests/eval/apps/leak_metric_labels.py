# EVAL {"expect": "leak", "threshold": "256k", "paths": ["/api/items/{n}"], "also": ["<no Python frame>", "<CPython free lists>"], "holder": "REQUESTS \\(Counter instance\\)"}
"""Metric label cardinality: a counter labelled with the raw request path
creates one child series per distinct path, kept for the exposition. The
path string itself is uWSGI's, made in C: it leaks at "<no Python frame>";
the revived label tuples show at CPython's free lists."""
import threading


class Counter:
    def __init__(self, name):
        self.name = name
        self.children = {}
        self.lock = threading.Lock()

    def labels(self, **labels):
        key = tuple(sorted(labels.items()))  # LEAK-LINE
        with self.lock:
            child = self.children.get(key)
            if child is None:
                child = self.children[key] = {"value": 0.0, "labels": labels}  # LEAK-LINE
        return child


REQUESTS = Counter("http_requests_total")


def application(environ, start_response):
    REQUESTS.labels(method="GET", path=environ["PATH_INFO"])["value"] += 1  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

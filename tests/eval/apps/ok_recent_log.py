# EVAL {"expect": "none", "paths": ["/login?user={n}"]}
"""A debug page's recent-requests log: collections.deque(maxlen=2000) of
per-request records; full after 2,000 requests, then old records fall
off as new ones come."""
import collections
import time

RECENT = collections.deque(maxlen=2000)


def application(environ, start_response):
    RECENT.append({"user": environ["QUERY_STRING"], "at": time.time(),
                   "agent": "curl/8.0 " * 8})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

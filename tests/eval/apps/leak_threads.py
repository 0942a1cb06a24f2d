# EVAL {"expect": "leak", "threshold": "1M", "args": ["--threads", "4"], "paths": ["/upload?session={n}"], "holder": "SESSIONS \\(dict"}
"""A leak under --threads 4: a session store shared by the worker's threads
behind a lock, filled per request and never expired."""
import threading

SESSIONS = {}
LOCK = threading.Lock()


def application(environ, start_response):
    session = environ["QUERY_STRING"].partition("=")[2]
    with LOCK:
        SESSIONS[session] = bytearray(8192)  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

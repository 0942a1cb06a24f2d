"""Each request keeps a 2 KiB record in a list of its thread's own
(threading.local), which nobody trims: the leak is held by the
thread-local, itself a module global (issue 18)."""
import threading

STATE = threading.local()


def application(environ, start_response):
    if not hasattr(STATE, "seen"):
        STATE.seen = []
    STATE.seen.append(bytes(2048) + environ["PATH_INFO"].encode())  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

"""An app that forks at import, in the worker (--lazy-apps), and whose child
goes on into uWSGI's request loop as "worker 1", while the worker itself
waits for the child to end before it finishes loading the app and serves.

Each process answers "<who> <pid>" and keeps 64 KiB per request at its own
line. (A child serving while its worker serves too is what the leakwatch
guard is for, but uWSGI 2.0 itself crashes then: the worker's per-core
request state lives in shared memory. Forking inside a request crashes
uWSGI's response code in the child. Hence the worker waits.)
"""
import os

WORKER = os.getpid()
CHILD = os.fork()
if CHILD:
    os.waitpid(CHILD, 0)
KEPT = []


def child_request():
    KEPT.append(bytearray(65536))  # CHILD-LINE
    return b"child"


def worker_request():
    KEPT.append(bytearray(65536))  # LEAK-LINE (the worker's)
    return b"worker"


def application(environ, start_response):
    who = child_request() if os.getpid() != WORKER else worker_request()
    body = b"%s %d\n" % (who, os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

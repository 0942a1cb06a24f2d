"""Fault drill app: leaks LEAK_SIZE bytes (default 4096) per request into a
module-level list and spends DELAY_MS (default 2) in time.sleep() per
request. Under wrk every worker stays busy, yet a worker leaks about
2 MiB a second rather than the hundreds that an instant 16 KiB leak
reaches on this machine (a drill must not eat a shared CI box's memory).
Answers with the worker's pid and the number of objects it has leaked."""
import os
import time

LEAK = []
SIZE = int(os.environ.get("LEAK_SIZE", "4096"))
DELAY = float(os.environ.get("DELAY_MS", "2")) / 1000.0


def application(environ, start_response):
    LEAK.append(b"x" * SIZE)  # LEAK-LINE
    if DELAY > 0:
        time.sleep(DELAY)
    body = f"{os.getpid()} {len(LEAK)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

"""Leaks LEAK_SIZE bytes per request into a module-level list (the classic)."""
import os

LEAK = []
SIZE = int(os.environ.get("LEAK_SIZE", "16384"))


def application(environ, start_response):
    LEAK.append(b"x" * SIZE)  # LEAK-LINE
    body = f"{len(LEAK)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

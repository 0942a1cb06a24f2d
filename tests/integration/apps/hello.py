"""A minimal WSGI app: answers every request with its worker's pid."""
import os


def application(environ, start_response):
    body = f"pid {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

"""Frees, request by request, objects allocated before the fork (untracked)."""
PREFORK = [str(i) * 20 for i in range(200000)]


def application(environ, start_response):
    for _ in range(500):
        if PREFORK:
            PREFORK.pop()
    body = f"{len(PREFORK)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

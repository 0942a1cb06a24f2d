"""Grows one bytearray by 1000 bytes per request: realloc after realloc of
the same block. Only its final size is live."""
BUF = bytearray()


def application(environ, start_response):
    BUF.extend(b"x" * 1000)  # LEAK-LINE
    body = f"{len(BUF)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

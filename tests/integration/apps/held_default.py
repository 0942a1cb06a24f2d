"""A function whose mutable default argument remembers every request: the
leak is held by the function's defaults (issue 18)."""


def remember(path, seen=[]):
    seen.append(bytes(2048) + path.encode())  # LEAK-LINE


def application(environ, start_response):
    remember(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

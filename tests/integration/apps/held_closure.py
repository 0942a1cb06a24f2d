"""A closure whose cell keeps a list that grows per request: the leak is
held by the function's closure (issue 18)."""


def make_recorder():
    seen = []

    def record(path):
        seen.append(bytes(2048) + path.encode())  # LEAK-LINE
    return record


record = make_recorder()


def application(environ, start_response):
    record(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

"""A profiler that appends each request's timing record to a class-level
list nobody trims: the leak is held by the class (issue 18)."""


class Profiler:
    records = []

    @classmethod
    def end(cls, path):
        cls.records.append(bytes(2048) + path.encode())  # LEAK-LINE


def application(environ, start_response):
    Profiler.end(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

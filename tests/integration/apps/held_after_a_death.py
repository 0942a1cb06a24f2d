"""A class-level list that keeps 8 KiB a request. The test kills the
worker asked what holds it before it answers: the question is asked again
of whoever holds the leak then (issue 18's retry)."""


class Journal:
    entries = []

    @classmethod
    def add(cls):
        cls.entries.append(bytes(8192))  # LEAK-LINE


def application(environ, start_response):
    Journal.add()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

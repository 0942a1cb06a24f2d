# EVAL {"expect": "leak", "threshold": "128k", "paths": ["/track?id={n}"], "holder": "Audit\\.events \\(list"}
"""A class-level list that grows per request: under 100 bytes each time.

An audit helper keeps every event on the class "for the admin page"; the
list lives as long as the worker."""


class Audit:
    events = []

    @classmethod
    def record(cls, event_id):
        cls.events.append(bytes(31))  # LEAK-LINE


def application(environ, start_response):
    Audit.record(environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

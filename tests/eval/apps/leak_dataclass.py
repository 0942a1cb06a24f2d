# EVAL {"expect": "leak", "threshold": "512k", "paths": ["/events?user={n}"], "holder": "AUDIT \\(list, \\d+ items\\) <- module "}
"""Dataclass instances built from request data, kept in a module-level
audit list. The dataclass's __init__ is generated code (file "<string>"):
the leak is the application line that calls it."""
from dataclasses import dataclass, field


@dataclass
class Event:
    user: str
    action: str
    tags: list = field(default_factory=list)


AUDIT = []


def application(environ, start_response):
    user = environ["QUERY_STRING"].partition("=")[2]
    AUDIT.append(Event(user, "view", ["web", user]))  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

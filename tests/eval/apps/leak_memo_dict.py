# EVAL {"expect": "leak", "threshold": "512k", "paths": ["/profile?user={n}"], "holder": "_rendered \\(dict"}
"""An unbounded memo dict keyed by request data: every user ever seen keeps
its rendered profile."""

_rendered = {}


def render(user):
    key = f"profile:{user}"
    if key not in _rendered:
        _rendered[key] = "<li>" + user + "</li>" * 200  # LEAK-LINE
    return _rendered[key]


def application(environ, start_response):
    user = environ["QUERY_STRING"].partition("=")[2]
    body = render(user).encode()
    start_response("200 OK", [("Content-Type", "text/html")])
    return [body[:64]]

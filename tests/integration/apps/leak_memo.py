"""An unbounded memo keyed by request data: every distinct query string is
remembered forever, with its rendered result."""
MEMO = {}


def render(query):
    return ("<li>%s</li>" % query) * 200  # LEAK-LINE: the memoised renderings


def application(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query not in MEMO:
        MEMO[query] = render(query)
    body = b"ok\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [body]

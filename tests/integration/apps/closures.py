"""A closure kept per request. The cell it shares with application() (for
`cart`) is made as application() is entered, before its first line runs,
while the frame that runs is uWSGI's call from C: it is application()'s
own, at its def line."""
HANDLERS = []


def application(environ, start_response):  # ENTRY-LINE
    cart = environ["QUERY_STRING"] + "!"
    HANDLERS.append(lambda: cart)  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

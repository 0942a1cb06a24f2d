"""Makes 10 KiB of cyclic garbage per request, with Python's automatic gc
off: without a collection it piles up like a leak, but it is not one."""
import gc

gc.disable()


class Node:
    def __init__(self):
        self.payload = b"x" * 10240  # LEAK-LINE
        self.me = self


def application(environ, start_response):
    Node()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

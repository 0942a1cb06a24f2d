# EVAL {"expect": "none", "paths": ["/tree?id={n}"]}
"""Cyclic garbage: each request builds a small tree whose nodes point to
their parent (parent <-> child cycles) carrying 16 KiB of payload, and drops
it. Only the cyclic collector frees it, when its thresholds trip: the
heap saws up by megabytes between collections."""


class Node:
    def __init__(self, parent, payload):
        self.parent = parent
        self.children = []
        self.payload = payload
        if parent is not None:
            parent.children.append(self)


def application(environ, start_response):
    root = Node(None, bytes(4096))
    for _ in range(3):
        Node(root, bytes(4096))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

# EVAL {"expect": "none", "paths": ["/event?id={n}"]}
"""Sawtooth buffers: a batching writer appends each request's event to a
buffer and flushes it (drops it) once it holds 600 KiB."""

BUFFER = []
SIZE = [0]


def application(environ, start_response):
    event = ("%s " % environ["QUERY_STRING"]) * 100
    BUFFER.append(event)
    SIZE[0] += len(event)
    if SIZE[0] > 600 * 1024:
        BUFFER.clear()  # "flushed to the collector"
        SIZE[0] = 0
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

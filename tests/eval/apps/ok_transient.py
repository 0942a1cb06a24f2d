# EVAL {"expect": "none", "paths": ["/report?id={n}"]}
"""Transient large allocations: each request builds an 8 MiB buffer and a
list of 20,000 rows, answers, and lets them go."""


def application(environ, start_response):
    buf = bytearray(8 << 20)
    rows = [(i, str(i)) for i in range(20000)]
    body = b"%d %d\n" % (len(buf), len(rows))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

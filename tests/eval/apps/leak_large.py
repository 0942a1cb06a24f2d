# EVAL {"expect": "leak", "threshold": "4M", "paths": ["/export?job={n}"], "calibrate": 40, "holder": "EXPORTS \\(dict"}
"""Over 1 MiB per request: finished export buffers kept in a dict "for
download later" and never evicted."""

EXPORTS = {}


def application(environ, start_response):
    job = environ["QUERY_STRING"].partition("=")[2]
    EXPORTS[job] = bytearray(1536 * 1024)  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

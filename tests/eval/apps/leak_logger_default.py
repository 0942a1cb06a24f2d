# EVAL {"expect": "leak", "threshold": "2M", "paths": ["/orders/{n}"], "holder": "Logger\\.manager \\(Manager instance\\)"}
"""A logger per request at a production threshold (2 MiB), plain WSGI:
logging.getLogger() with a name made of request data registers each
logger (and its placeholder parents) in logging's manager forever. The
bytes land in logging/__init__.py at several lines on behalf of one
application line."""
import logging

logging.basicConfig(level=logging.WARNING)


def application(environ, start_response):
    order = environ["PATH_INFO"].rsplit("/", 1)[-1]
    log = logging.getLogger(f"shop.orders.{order}")  # LEAK-LINE
    log.info("looking up %s", order)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"status": "shipped"}']

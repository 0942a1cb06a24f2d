"""A logger per request: the growth lands inside logging/__init__.py, the
cause is the application's getLogger call."""
import itertools
import logging

counter = itertools.count()


def application(environ, start_response):
    log = logging.getLogger(f"request.{next(counter)}")  # LEAK-LINE
    log.debug("handled %s", environ.get("PATH_INFO"))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

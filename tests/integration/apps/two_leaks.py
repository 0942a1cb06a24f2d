"""Two leaks in two files: LEAK_SIZE bytes per request in this file, and
VENDOR_FACTOR times as much in vendor/cache.py, which it imports."""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = int(os.environ.get("LEAK_SIZE", "16384"))
VENDOR_FACTOR = 2

_spec = importlib.util.spec_from_file_location("cache", os.path.join(HERE, "vendor", "cache.py"))
cache = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cache)

LEAK = []


def application(environ, start_response):
    LEAK.append(b"a" * SIZE)  # LEAK-LINE
    cache.remember(VENDOR_FACTOR * SIZE)
    body = f"{len(LEAK)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

#!/usr/bin/python3
"""Ground truth for `make eval`: how many bytes one request of an app leaks.

    calibrate.py APP PATHS_JSON WARMUP REQUESTS

Imports the app in this interpreter (no uWSGI, no leakwatch), serves
WARMUP requests so lazy initialisation is over, then REQUESTS more with
tracemalloc tracing every allocation, and prints (JSON) the traced growth
per request after a full collection at both ends: in all, and per line of
the app that caused it (the innermost frame in the app's file, as
leakwatch names a site reached through library code). The same request sequence
as the eval run is used (paths.expand), so a leak in one endpoint among
many is diluted here exactly as it is there.
"""
import gc
import importlib.util
import io
import json
import sys
import tracemalloc

import paths


def load(app_path):
    spec = importlib.util.spec_from_file_location("eval_app", app_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.application


def environ(url):
    path, _, query = url.partition("?")
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}


def serve(app, url):
    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise SystemExit(f"{url}: {status}")
    body = app(environ(url), start_response)
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()


def main():
    app_path, templates, warmup, requests = sys.argv[1], json.loads(sys.argv[2]), \
        int(sys.argv[3]), int(sys.argv[4])
    app = load(app_path)
    urls = paths.expand(templates, warmup + requests)
    for url in urls[:warmup]:
        serve(app, url)
    tracemalloc.start(32)
    gc.collect()
    before = tracemalloc.take_snapshot()
    for url in urls[warmup:]:
        serve(app, url)
    gc.collect()
    after = tracemalloc.take_snapshot()
    lines = {}
    for diff in after.compare_to(before, "traceback"):
        line = next((f.lineno for f in reversed(diff.traceback) if f.filename == app_path), 0)
        lines[line] = lines.get(line, 0) + diff.size_diff
    print(json.dumps({"total": sum(lines.values()) / requests,
                      "lines": {n: b / requests for n, b in lines.items()}}))


if __name__ == "__main__":
    main()

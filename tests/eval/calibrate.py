#!/usr/bin/python3
"""Ground truth for `make eval`: how many bytes one request of an app leaks.

    calibrate.py APP PATHS_JSON WARMUP REQUESTS [ENV_BEHAVIOUR]

Imports the app in this interpreter (no uWSGI, no leakwatch), serves
WARMUP requests so lazy initialisation is over, then REQUESTS more with
tracemalloc tracing every allocation, and prints (JSON) the traced growth
per request after a full collection at both ends: in all, and per line of
the app that caused it (the innermost frame in the app's file, as
leakwatch names a site reached through library code). The same request sequence
as the eval run is used (paths.expand), so a leak in one endpoint among
many is diluted here exactly as it is there.

The environ is made as the uWSGI being evaluated makes it
(--wsgi-env-behaviour): "cheat", uWSGI 2.0's default, gives each request
the same dict and clears it after the request, so an app that keeps the
environ (a traceback's frames do) keeps one dict, not one a request;
"holy", 2.1's default, makes a new dict for each request.
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


ENVIRON = {}  # the one dict of --wsgi-env-behaviour cheat
URL = [""]  # the request being served, for start_response's complaint


def environ(url, behaviour):
    path, _, query = url.partition("?")
    env = ENVIRON if behaviour == "cheat" else {}
    env.update({"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False})
    return env


def start_response(status, headers, exc_info=None):
    """One for all requests, as uWSGI's is: an app that keeps it (a kept
    frame's local) keeps no object made for the request."""
    if not status.startswith("200"):
        raise SystemExit(f"{URL[0]}: {status}")


def server(app, behaviour):
    """Serves each URL sent to it. uWSGI calls the app from C, with no
    Python frame; here the app is called from this generator's one frame,
    the same for every request. A frame the app keeps past the request (a
    traceback's) keeps its caller's frame too (f_back): with a caller of
    its own for each request, that would count a frame a request that
    uWSGI never makes."""
    url = yield
    while True:
        URL[0] = url
        env = environ(url, behaviour)
        body = app(env, start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
        if behaviour == "cheat":
            env.clear()
        url = yield


def main():
    app_path, templates, warmup, requests = sys.argv[1], json.loads(sys.argv[2]), \
        int(sys.argv[3]), int(sys.argv[4])
    behaviour = sys.argv[5] if len(sys.argv) > 5 else "cheat"
    app = load(app_path)
    urls = paths.expand(templates, warmup + requests)
    serve = server(app, behaviour)
    next(serve)
    for url in urls[:warmup]:
        serve.send(url)
    tracemalloc.start(32)
    gc.collect()
    before = tracemalloc.take_snapshot()
    for url in urls[warmup:]:
        serve.send(url)
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

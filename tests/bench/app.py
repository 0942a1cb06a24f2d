"""The benchmark app: a JSON endpoint, an allocation-heavy one and a tiny one.

The soak phase of bench.py also uses /item/<n>, /item/<key>/detail,
/tag/<slug> and /site/<n>: many distinct request paths (numeric ids and
UUIDs that fold into one endpoint, slugs that do not) and many distinct
allocation sites (SITE_FUNCTIONS generated functions, one line each), so
endpoint interning and the site table see more than three routes.

LEAKWATCH_BENCH_SEED=N (N = tracemalloc frames, e.g. 1) wraps the app in the
"seed recipe": what a user does by hand with tracemalloc. tracemalloc starts
before Flask is imported (as PYTHONTRACEMALLOC would), and every request is
followed by gc.collect(), take_snapshot() and compare_to(the previous
snapshot, "lineno").

LEAKWATCH_BENCH_CGCTL=PATH (build/bench/cgctl.so) adds /cg/zero and /cg/dump,
which zero and dump the serving process's callgrind counters
(tests/bench/instructions.py).
"""
import os

SEED_FRAMES = int(os.environ.get("LEAKWATCH_BENCH_SEED", "0") or 0)
if SEED_FRAMES:
    import tracemalloc
    tracemalloc.start(SEED_FRAMES)

import collections  # noqa: E402
import gc  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402

app = Flask(__name__)
application = app


@app.route("/json")
def json_endpoint():
    return jsonify(user={"id": 42, "name": "Ada", "roles": ["admin", "dev"]},
                   items=[{"sku": f"SKU-{i}", "qty": i, "price": i * 1.25} for i in range(20)])


@app.route("/alloc")
def alloc():
    rows = [{"id": i, "name": f"row-{i}", "tags": [str(i), "x" * (i % 50)]} for i in range(2000)]
    index = {r["name"]: r for r in rows}
    text = ",".join(r["name"] for r in rows)
    return f"{len(index)} {len(text)}\n"


@app.route("/tiny")
def tiny():
    return "ok\n"


if os.environ.get("LEAKWATCH_BENCH_CGCTL"):
    import ctypes
    _cgctl = ctypes.CDLL(os.environ["LEAKWATCH_BENCH_CGCTL"])

    @app.route("/cg/<verb>")
    def callgrind(verb):
        {"zero": _cgctl.lw_bench_cg_zero, "dump": _cgctl.lw_bench_cg_dump}[verb]()
        return "ok\n"


# --- soak endpoints -------------------------------------------------------

RECENT_MAX = 512
_recent = collections.OrderedDict()  # a bounded cache: grows, then plateaus


@app.route("/item/<int:n>")
def item(n):
    record = {"id": n, "name": f"item-{n}", "page": request.args.get("page", "1"),
              "payload": [n * k for k in range(n % 64)]}
    _recent[n] = record
    _recent.move_to_end(n)
    while len(_recent) > RECENT_MAX:
        _recent.popitem(last=False)
    return jsonify(record)


@app.route("/item/<key>/detail")
def item_detail(key):
    return jsonify(key=key, parts=key.split("-"), sort=request.args.get("sort", ""))


@app.route("/tag/<slug>")
def tag(slug):
    return f"{slug.upper()} {len(slug) * 'x'}\n"


SITE_FUNCTIONS = 1000
_site_source = "\n".join(
    f"def site_{i}(n): return [(n, {i}, str(n + k)) for k in range({8 + i % 24})]"
    for i in range(SITE_FUNCTIONS))
_site_namespace = {}
exec(compile(_site_source, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "generated_sites.py"), "exec"), _site_namespace)
_sites = [_site_namespace[f"site_{i}"] for i in range(SITE_FUNCTIONS)]


@app.route("/site/<int:n>")
def site(n):
    rows = _sites[n % SITE_FUNCTIONS](n)
    return f"{len(rows)}\n"


# --- the seed recipe ------------------------------------------------------

class SeedMiddleware:
    """Per request: run the app, gc.collect(), snapshot, diff against the last one."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.previous = tracemalloc.take_snapshot()
        self.top = []

    def __call__(self, environ, start_response):
        result = self.wrapped(environ, start_response)
        try:
            body = list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        self.top = snapshot.compare_to(self.previous, "lineno")[:10]
        self.previous = snapshot
        return body


if SEED_FRAMES:
    application = SeedMiddleware(app)

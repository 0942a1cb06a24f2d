"""A Flask app with the classic leak: a profiler that keeps every request's
timing in a class-level list, so each request leaves a few KiB behind forever.

    uwsgi --plugin python3,./leakwatch_plugin.so --http-socket 127.0.0.1:8080 \
          --wsgi-file examples/leaky_profiler.py --master --processes 2
"""
import time

from flask import Flask, g, request

app = Flask(__name__)
application = app


class Profiler:
    # Class-level: shared by every instance and never emptied. This is the leak.
    records = []

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.started = time.perf_counter()

    def end(self):
        elapsed = time.perf_counter() - self.started
        # a few KiB per request: the timing, plus "context for later analysis"
        Profiler.records.append({
            "endpoint": self.endpoint,
            "elapsed": elapsed,
            "context": [f"{self.endpoint}:{i}:{elapsed:.9f}" for i in range(40)],
        })


@app.before_request
def start_profiler():
    g.profiler = Profiler(request.path)


@app.after_request
def stop_profiler(response):
    g.profiler.end()
    return response


@app.route("/")
def index():
    return "hello\n"


@app.route("/orders/<int:order_id>")
def order(order_id):
    return {"order": order_id, "items": list(range(order_id % 7))}


@app.route("/health")
def health():
    return {"records": len(Profiler.records)}

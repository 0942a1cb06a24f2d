# EVAL {"expect": "none", "paths": ["/v{z}"]}
"""Lazy per-route initialisation (Flask): each of 20 views builds its
lookup table (about 55 KiB) the first time it is asked for, as views that
compile templates or load reference data do. Traffic follows a Zipf-like
law: the hot views initialise at once, the long tail over thousands of
requests; then nothing grows. In all 1.1 MiB per worker, so the growth
after warm-up stays under the threshold, as detect.c asks of legitimate
growth that arrives at a steady pace (a table 3x larger is reported)."""
from flask import Flask

app = Flask(__name__)
application = app
VIEWS = ["home", "search", "cart", "checkout", "login", "logout", "account", "orders",
         "invoices", "returns", "help", "faq", "terms", "privacy", "careers", "press",
         "partners", "sitemap", "status", "legal"]
TABLES = {}


def table(view):
    if view not in TABLES:
        TABLES[view] = [f"{view}:{i:06d}" for i in range(800)]
    return TABLES[view]


def make_view(view):
    def serve():
        return {"view": view, "size": len(table(view))}
    serve.__name__ = view
    return serve


for number, name in enumerate(VIEWS):
    app.add_url_rule(f"/v{number}", view_func=make_view(name))

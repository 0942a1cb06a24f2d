# EVAL {"expect": "leak", "threshold": "512k", "endpoint": "/reports/{id}", "paths": ["/", "/health", "/users/{n}", "/search?q={n}", "/reports/{n}", "/static/app.css", "/users/{n}/orders", "/about"], "holder": "HISTORY \\(list"}
"""A leak in one endpoint among many (Flask): the reports view keeps each
generated report in a module-level history; the other seven views are
clean. Traffic is spread evenly over the eight."""
from flask import Flask, request

app = Flask(__name__)
application = app
HISTORY = []


@app.route("/")
def index():
    return "home"


@app.route("/health")
def health():
    return {"ok": True}


@app.route("/users/<int:uid>")
def user(uid):
    return {"id": uid, "name": f"user{uid}", "roles": ["reader"] * 10}


@app.route("/users/<int:uid>/orders")
def orders(uid):
    return {"orders": [{"id": i, "user": uid} for i in range(20)]}


@app.route("/search")
def search():
    q = request.args.get("q", "")
    return {"q": q, "hits": [q + str(i) for i in range(50)]}


@app.route("/reports/<int:rid>")
def report(rid):
    rows = [f"{rid},{i},{i * 3.5}" for i in range(40)]
    HISTORY.append("\n".join(rows))  # LEAK-LINE
    return {"report": rid, "rows": len(rows)}


@app.route("/static/app.css")
def css():
    return "body{}"


@app.route("/about")
def about():
    return "about"

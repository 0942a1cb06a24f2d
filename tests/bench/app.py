"""The benchmark app: a JSON endpoint, an allocation-heavy one and a tiny one."""
from flask import Flask, jsonify

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

# EVAL {"expect": "leak", "threshold": "512k", "paths": ["/orders/{n}"], "holder": "Logger\\.manager \\(Manager instance\\)"}
"""A logger per request (Flask): logging.getLogger() with a name made of
request data registers each logger in the logging manager forever."""
import logging

from flask import Flask

app = Flask(__name__)
application = app


@app.route("/orders/<order_id>")
def order(order_id):
    log = logging.getLogger(f"orders.{order_id}")  # LEAK-LINE
    log.debug("looking up %s", order_id)
    return {"order": order_id, "status": "shipped"}

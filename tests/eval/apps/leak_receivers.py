# EVAL {"expect": "leak", "threshold": "128k", "paths": ["/checkout?cart={n}"], "holder": "order_placed \\(Signal instance\\)"}
"""Per-request registration of a signal receiver: a closure over the
request's data is connected to a module-level signal and never removed."""


class Signal:
    def __init__(self):
        self.receivers = []

    def connect(self, receiver):
        self.receivers.append(receiver)  # LEAK-LINE

    def send(self, sender):
        for receiver in self.receivers[-1:]:
            receiver(sender)


order_placed = Signal()


def application(environ, start_response):
    cart = environ["QUERY_STRING"].partition("=")[2]
    order_placed.connect(lambda sender: (sender, cart))  # LEAK-LINE
    order_placed.send("checkout")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]

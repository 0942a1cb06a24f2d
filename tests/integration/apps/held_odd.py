"""A leak among objects that would run Python code if anyone touched them
carelessly: a list subclass whose __len__ raises, held by an instance
whose class answers every missing attribute by raising, beside a dict
keyed by objects whose __eq__ raises and a weakref proxy. The walk for
what holds it must run none of that code (/check says what ran) and leave
the collector as it found it (issue 18)."""
import gc
import json
import weakref

RAN = []


class Rows(list):
    def __len__(self):
        RAN.append("Rows.__len__")
        raise RuntimeError("__len__")

    def __eq__(self, other):
        RAN.append("Rows.__eq__")
        raise RuntimeError("__eq__")

    __hash__ = None


class Key:
    def __eq__(self, other):
        RAN.append("Key.__eq__")
        raise RuntimeError("__eq__")

    def __hash__(self):
        return id(self) >> 4


class Holder:
    def __getattr__(self, name):
        RAN.append("Holder.__getattr__ " + name)
        raise AttributeError(name)

    def __repr__(self):
        RAN.append("Holder.__repr__")
        raise RuntimeError("__repr__")


HOLDER = Holder()
HOLDER.rows = Rows()
PROXY = weakref.proxy(HOLDER)
BY_KEY = {Key(): PROXY, Key(): "x"}
gc.set_threshold(1234, 5, 6)


def application(environ, start_response):
    if environ["PATH_INFO"] == "/check":
        body = json.dumps({"ran": RAN, "enabled": gc.isenabled(),
                           "threshold": gc.get_threshold()}).encode()
    else:
        HOLDER.rows.append(bytearray(2048))  # LEAK-LINE
        body = b"ok\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

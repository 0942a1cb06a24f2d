# EVAL {"expect": "leak", "threshold": "1M", "paths": ["/form?kind={n}"], "holder": "Form\\.registry \\(dict.* <- class Form \\("}
"""Classes created per request: a form class is built for each request's
field set and registered by its base's __init_subclass__, as declarative
registries do."""


class Form:
    registry = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Form.registry[cls.__name__] = cls  # LEAK-LINE


def application(environ, start_response):
    kind = environ["QUERY_STRING"].partition("=")[2]
    form = type(f"Form_{kind}", (Form,), {"fields": ("name", kind)})  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [form.__name__.encode()]

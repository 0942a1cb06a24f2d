# EVAL {"expect": "none", "paths": ["/", "/items/{n}", "/search?q=product+{z}&limit=3", "/search?q="]}
"""A Django site's everyday traffic (shared/django_shop.py): URL routing,
middleware, a template, a form and the ORM on SQLite. Nothing is kept;
each request leaves cyclic garbage that Python's collections free."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "django_shop", os.path.join(os.path.dirname(os.path.abspath(__file__)), "shared",
                                "django_shop.py"))
shop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shop)

from django.core.wsgi import get_wsgi_application  # noqa: E402 (the shop's settings first)

shop.URLS.urlpatterns = shop.EVERYDAY
application = get_wsgi_application()

# EVAL {"expect": "leak", "threshold": "256k", "paths": ["/track?n={n}"], "also": ["<no Python frame>", "<CPython free lists>"], "holder": "TRACKED \\(list"}
"""A Django view (shared/django_shop.py: the ORM on SQLite) that keeps the
model instance each request looked up in a module-level list. Each
request keeps under 1 KiB and leaves some 9.8 KiB of cyclic garbage (the
ORM's querysets, the classes the SQLite backend makes per connection),
which Python's collections free in drops larger than half the threshold:
the leak lies under a sawtooth."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "django_shop", os.path.join(os.path.dirname(os.path.abspath(__file__)), "shared",
                                "django_shop.py"))
shop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shop)

from django.core.wsgi import get_wsgi_application  # noqa: E402 (the shop's settings first)
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

TRACKED = []


def track(request):
    n = int(request.GET["n"])
    TRACKED.append(shop.Product.objects.get(pk=n % 50 + 1))  # LEAK-LINE
    return JsonResponse({"tracked": len(TRACKED)})


shop.URLS.urlpatterns = [path("track", track)]
application = get_wsgi_application()

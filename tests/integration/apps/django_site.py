"""A Django site (make eval's shop, tests/eval/apps/shared/django_shop.py:
routing, middleware, a template, a form and the ORM on SQLite) serving
the paths a site serves every day (/, /items/<n>, /search?q=...) and
/track, which keeps the product each request looked up in a module-level
list: a leak (TRACK-LINE)."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "django_shop", os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                os.pardir, "eval", "apps", "shared", "django_shop.py"))
shop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shop)

from django.core.wsgi import get_wsgi_application  # noqa: E402 (the shop's settings first)
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

TRACKED = []


def track(request):
    TRACKED.append(shop.Product.objects.get(pk=len(TRACKED) % 50 + 1))  # TRACK-LINE
    return JsonResponse({"tracked": len(TRACKED)})


shop.URLS.urlpatterns = shop.EVERYDAY + [path("track", track)]
application = get_wsgi_application()

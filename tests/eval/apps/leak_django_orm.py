# EVAL {"expect": "leak", "threshold": "256k", "paths": ["/track?n={n}"], "also": ["<no Python frame>", "<CPython free lists>"], "holder": "TRACKED \\(list"}
"""A Django view (Debian's python3-django, the ORM on SQLite) that keeps
the model instance each request looked up in a module-level list. Each
request keeps under 1 KiB and leaves some 9 KiB of cyclic garbage (the
ORM's querysets and compilers), which Python's collections free in drops
larger than half the threshold: the leak lies under a sawtooth."""

import django
from django.conf import settings



class URLS:  # the URLconf: its patterns are set below, once the views are
    urlpatterns = []


settings.configure(
    DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=URLS, SECRET_KEY="leakwatch-eval",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": "shop.sqlite3"}},
    INSTALLED_APPS=["django.contrib.contenttypes"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"], USE_TZ=True)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 (settings first)
from django.db import connection, models  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


class Product(models.Model):
    name = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        app_label = "shop"



# The schema and 50 rows, made before uWSGI forks, in a file of the
# working directory (the server's own); each worker connects to it, and
# Django connects anew for each request, as it does by default.
with connection.schema_editor() as editor:
    editor.create_model(Product)
Product.objects.bulk_create(Product(name=f"product {n}", price=n * 1.25) for n in range(1, 51))
connection.close()


TRACKED = []


def track(request):
    n = int(request.GET["n"])
    TRACKED.append(Product.objects.get(pk=n % 50 + 1))  # LEAK-LINE
    return JsonResponse({"tracked": len(TRACKED)})


URLS.urlpatterns = [path("track", track)]
application = get_wsgi_application()

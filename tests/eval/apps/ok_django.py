# EVAL {"expect": "none", "paths": ["/", "/items/{n}", "/search?q=product+{z}&limit=3", "/search?q="]}
"""A Django site's everyday traffic (Debian's python3-django): URL routing,
middleware, a template, a form and the ORM on SQLite. Nothing is kept;
each request leaves cyclic garbage that Python's collections free."""

import django
from django.conf import settings



class URLS:  # the URLconf: its patterns are set below, once the views are
    urlpatterns = []


INDEX = """<ul>{% for p in products %}<li><a href="/items/{{ p.pk }}">{{ p.name|title }}</a>
 {{ p.price|floatformat:2 }}</li>{% endfor %}</ul>"""
settings.configure(
    DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=URLS, SECRET_KEY="leakwatch-eval",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": "shop.sqlite3"}},
    INSTALLED_APPS=["django.contrib.contenttypes"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader",
                                         {"index.html": INDEX})]}}],
    USE_TZ=True)
django.setup()

from django import forms  # noqa: E402 (settings first)
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402


class Product(models.Model):
    name = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        app_label = "shop"


class SearchForm(forms.Form):
    q = forms.CharField(max_length=32)
    limit = forms.IntegerField(min_value=1, max_value=20, required=False)



# The schema and 50 rows, made before uWSGI forks, in a file of the
# working directory (the server's own); each worker connects to it, and
# Django connects anew for each request, as it does by default.
with connection.schema_editor() as editor:
    editor.create_model(Product)
Product.objects.bulk_create(Product(name=f"product {n}", price=n * 1.25) for n in range(1, 51))
connection.close()


def index(request):
    return render(request, "index.html", {"products": Product.objects.order_by("name")[:20]})


def item(request, n):
    p = Product.objects.get(pk=n % 50 + 1)
    return JsonResponse({"id": p.pk, "name": p.name, "price": str(p.price)})


def search(request):
    form = SearchForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors})
    found = Product.objects.filter(name__icontains=form.cleaned_data["q"])
    return JsonResponse({"products": [p.name for p in found[:form.cleaned_data["limit"] or 5]]})


URLS.urlpatterns = [path("", index), path("items/<int:n>", item), path("search", search)]
application = get_wsgi_application()

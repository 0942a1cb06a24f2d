"""A Django shop in one module (Debian's python3-django), for the apps that
serve it: make eval's leak_django_orm.py and ok_django.py, and
tests/integration/apps/django_site.py. Settings (DEBUG off, the ORM on
SQLite in a file of the working directory, which is the server's own, a
template from memory), a Product model with 50 rows made before uWSGI
forks, a search form and the views of every day (EVERYDAY). An app loads
it by path (the apps are loaded by path, not imported), writes its own
views and sets URLS.urlpatterns. Django connects anew for each request,
as it does by default: its SQLite backend then makes classes for each
connection, cyclic garbage a request."""
import django
from django.conf import settings

INDEX = """<ul>{% for p in products %}<li><a href="/items/{{ p.pk }}">{{ p.name|title }}</a>
 {{ p.price|floatformat:2 }}</li>{% endfor %}</ul>"""


class URLS:  # the URLconf: each app sets its patterns
    urlpatterns = []


settings.configure(
    DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=URLS, SECRET_KEY="leakwatch-tests",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "shop.sqlite3"}},
    INSTALLED_APPS=["django.contrib.contenttypes"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader",
                                         {"index.html": INDEX})]}}],
    USE_TZ=True)
django.setup()

from django import forms  # noqa: E402 (settings first)
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


with connection.schema_editor() as editor:
    editor.create_model(Product)
Product.objects.bulk_create(Product(name=f"product {n}", price=n * 1.25) for n in range(1, 51))
connection.close()  # each worker connects on its own


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


# What a site serves every day: pages, lookups, searches (some invalid).
EVERYDAY = [path("", index), path("items/<int:n>", item), path("search", search)]

"""A Django site in one file (Debian's python3-django): URL routing,
middleware, templates, a form and the ORM on SQLite, the paths a site
serves every day (/, /items/<n>, /search?q=...). /track keeps the item
each request looked up in a module-level list: a leak (TRACK-LINE)."""

import django
from django.conf import settings

INDEX = """<ul>{% for item in items %}<li><a href="/items/{{ item.pk }}">{{ item.name|title }}</a>
 {{ item.price|floatformat:2 }}</li>{% endfor %}</ul>"""

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="leakwatch-integration-test",
    DATABASES={"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "shop.sqlite3"}},
    INSTALLED_APPS=["django.contrib.contenttypes"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader",
                                         {"index.html": INDEX})]}}],
    USE_TZ=True,
)
django.setup()

from django import forms  # noqa: E402 (settings first)
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402


class Item(models.Model):
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
    editor.create_model(Item)
Item.objects.bulk_create(Item(name=f"item {n}", price=n * 1.25) for n in range(1, 51))
connection.close()


TRACKED = []


def index(request):
    return render(request, "index.html", {"items": Item.objects.order_by("name")[:20]})


def item(request, n):
    it = Item.objects.get(pk=n % 50 + 1)
    return JsonResponse({"id": it.pk, "name": it.name, "price": str(it.price)})


def search(request):
    form = SearchForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=200)
    found = Item.objects.filter(name__icontains=form.cleaned_data["q"])
    return JsonResponse({"items": [i.name for i in found[:form.cleaned_data["limit"] or 5]]})


def track(request):
    TRACKED.append(Item.objects.get(pk=len(TRACKED) % 50 + 1))  # TRACK-LINE
    return JsonResponse({"tracked": len(TRACKED)})


urlpatterns = [
    path("", index),
    path("items/<int:n>", item),
    path("search", search),
    path("track", track),
]

application = get_wsgi_application()

# EVAL {"expect": "leak", "threshold": "256k", "paths": ["/price?sku={n}"], "also": ["<no Python frame>", "<CPython free lists>"], "holder": "PriceService\\.price"}
"""functools.lru_cache(maxsize=None) on a method of a per-request object:
the cache keys on (self, sku), so it keeps every request's service object
and every answer alive. Part of what it keeps is allocated where no Python
frame runs (tracemalloc in the same uWSGI worker sees ~340 B per request
grow at "<unknown>"), and the revived lists and tuples it keeps show at
CPython's free lists: both are right answers too."""
import functools


class PriceService:
    def __init__(self, currency):
        self.currency = currency
        self.rates = {"EUR": 1.0, "USD": 1.08}  # LEAK-LINE

    @functools.lru_cache(maxsize=None)
    def price(self, sku):
        return [sku, self.currency, len(sku) * 1.25]  # LEAK-LINE


def application(environ, start_response):
    service = PriceService("EUR")  # LEAK-LINE
    sku = environ["QUERY_STRING"].partition("=")[2]  # LEAK-LINE: kept in the cache key
    body = repr(service.price(sku)).encode()  # LEAK-LINE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

# EVAL {"expect": "none", "paths": ["/geo?ip={n}"]}
"""A bounded cache keyed by request data: functools.lru_cache(maxsize=1024)
on a lookup whose answers are ~700 bytes. Every request misses (a new IP),
so the cache fills to its bound in ~1,000 requests per worker and from
then on each insertion evicts the oldest entry: churn at a constant size
of under 1 MiB per worker."""
import functools


@functools.lru_cache(maxsize=1024)
def geolocate(ip):
    return {"ip": ip, "country": "NL", "city": "Amsterdam", "asn": "AS1136",
            "blob": "x" * 512}


def application(environ, start_response):
    geo = geolocate(environ["QUERY_STRING"].partition("=")[2])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [geo["country"].encode()]

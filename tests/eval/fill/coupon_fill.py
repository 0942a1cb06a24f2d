"""A bounded cache filled by coupon-collector traffic: each request draws
one of FILL_KEYS keys at random and keeps a FILL_ITEM-byte rendering for
it the first time. Fast at first, slower and slower as the keys left to
find get rarer, then flat at FILL_KEYS x FILL_ITEM bytes per worker: a
decelerating fill that is no leak, whatever its bound."""
import os
import random

KEYS = int(os.environ["FILL_KEYS"])
ITEM = int(os.environ.get("FILL_ITEM", "4096"))
CACHE = {}


def application(environ, start_response):
    key = random.randrange(KEYS)
    if key not in CACHE:
        CACHE[key] = b"%07d " % key * (ITEM // 8)  # ITEM bytes, whatever the key
    body = b"%d\n" % len(CACHE)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

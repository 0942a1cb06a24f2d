# EVAL {"expect": "none", "paths": ["/tags?post={n}"]}
"""Bounded interning: tag names from a vocabulary of 5,000 words are
interned and counted per request; the intern table and the counter dict
fill up to the vocabulary, then only update."""
import random
import sys

rng = random.Random(3)
COUNTS = {}


def application(environ, start_response):
    for _ in range(20):
        tag = sys.intern("tag-%d-%s" % (rng.randrange(5000), "x" * 20))
        COUNTS[tag] = COUNTS.get(tag, 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d\n" % len(COUNTS)]

"""The request sequence of an eval app, the same in the run and in calibration.

A template may use {n} (the request's index: request data never seen
before, like a user id or a search term) and {z} (a route index drawn from
a Zipf-like law over 0..19 with a fixed seed: a few hot routes and a long
tail first visited late). Templates are used round-robin.
"""
import random


def expand(templates, count, seed=7):
    rng = random.Random(seed)
    weights = [1 / (k + 1) ** 1.3 for k in range(20)]
    zipf = rng.choices(range(20), weights, k=count)
    return [templates[i % len(templates)].format(n=i, z=zipf[i]) for i in range(count)]

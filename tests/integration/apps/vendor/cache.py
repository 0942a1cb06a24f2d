"""A module two_leaks.py imports, from a vendor/ folder: it keeps every
value it is given (what --leakwatch-ignore '*/vendor/*' leaves out)."""
KEPT = []


def remember(size):
    KEPT.append(b"v" * size)  # LEAK-LINE

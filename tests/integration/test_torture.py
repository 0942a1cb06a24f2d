"""CPython's own tests of what leakwatch's hooks touch (dict, list,
OrderedDict, the gc, weakrefs, finalizers), run inside a uWSGI worker with
leakwatch in exact mode, give every test the outcome it gets without
leakwatch, and no worker dies. The fast part of `make torture`
(tests/torture/torture.py), about a minute and a half."""
import os
import sys
import unittest

from harness import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "torture"))
import torture  # noqa: E402

CONFIGS = ["baseline", "exact"]
LOGS = os.path.join(ROOT, "build", "torture", "logs-integration")
TIMEOUT = 300  # seconds a module may run; test_weakref takes about 35 in exact mode


class TortureTest(unittest.TestCase):

    def assert_like_baseline(self, module):
        # GIVEN CPython's tests of module
        # WHEN they run in a uWSGI worker without leakwatch, then with it in exact mode
        runs = {module: {c: torture.run_one(module, c, TIMEOUT, LOGS) for c in CONFIGS}}
        # THEN no worker died or hung, and each test has the baseline's outcome
        crashes, differences = torture.verdict(runs)
        if crashes or differences:
            self.fail("\n" + "\n".join(torture.report(runs, CONFIGS)))

    def test_dict(self):
        self.assert_like_baseline("test_dict")

    def test_list(self):
        self.assert_like_baseline("test_list")

    def test_ordered_dict(self):
        self.assert_like_baseline("test_ordered_dict")

    def test_gc(self):
        self.assert_like_baseline("test_gc")

    def test_weakref(self):
        self.assert_like_baseline("test_weakref")

    def test_finalization(self):
        self.assert_like_baseline("test_finalization")


if __name__ == "__main__":
    unittest.main()

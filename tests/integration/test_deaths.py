"""Deaths that pass through the hooked list, tuple and dict deallocators from
subclasses and C types built on them (subtype_dealloc, OrderedDict), nested
deep and wide, resurrected in __del__ and collected in cycles: the worker
serves every one of them, with leakwatch's defaults and in exact mode."""
import unittest

from harness import UwsgiTestCase

ROUTES = ["/chain/counter", "/chain/odict", "/chain/attrdict", "/chain/list", "/chain/tuple",
          "/nested", "/odicts", "/namedtuple", "/wide", "/resurrect", "/cycles"]
DEPTHS = [30, 2000]
ROUNDS = 3


class DeathsTest(UwsgiTestCase):

    def serve_every_death(self, args):
        # GIVEN one worker, so every request meets the state the last one left
        server = self.server("subclass_deaths.py", args=args, processes=1)
        pid = server.worker_requests()[1][0]
        # WHEN each shape is built and dropped, at each depth, several times
        for route in ROUTES:
            for depth in DEPTHS:
                for _ in range(ROUNDS):
                    try:
                        status, body = server.get(f"{route}?{depth}", timeout=60)
                    except OSError as e:  # the worker died mid-request
                        status, body = None, repr(e).encode()
                    # THEN it answers, and it is still the same worker
                    self.assertEqual((status, body), (200, b"ok\n"), f"{route}?{depth}")
                    self.assertEqual(server.worker_requests()[1][0], pid,
                                     f"the worker was replaced after {route}?{depth}")
        self.assertNotIn("Segmentation Fault", server.log())

    def test_subclass_deaths_at_defaults(self):
        self.serve_every_death([])

    def test_subclass_deaths_in_exact_mode(self):
        self.serve_every_death(["--leakwatch-sample-rate", "exact"])


if __name__ == "__main__":
    unittest.main()

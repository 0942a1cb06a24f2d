"""Native growth is told apart: a C-level leak gets NATIVE, a one-time burst
of native allocations that then stays flat does not, nor does a Python leak."""
import time
import unittest

from harness import UwsgiTestCase, wait_until


def native(server):
    return [l for l in server.log().splitlines() if l.startswith("[leakwatch] NATIVE")]


class NativeTest(UwsgiTestCase):

    def test_a_native_leak_is_announced(self):
        # GIVEN an app that leaks 64 KiB of C malloc per request
        server = self.server("leak_native.py", summary=0)
        # WHEN it runs for a while (RSS is read once a second)
        def announced():
            for _ in range(40):
                server.get("/")
            return native(server)
        found = wait_until(announced, 60, "a NATIVE line")
        # THEN the line says RSS grows and no Python site explains it
        self.assertRegex(found[0], r"^\[leakwatch\] NATIVE worker \d pid \d+: rss \+[\d.]+ \w+ "
                                   r"over \d+ requests .* that no Python site explains")
        self.assertFalse(any(l.startswith("[leakwatch] LEAK") for l in server.log().splitlines()))

    def test_a_burst_then_flat_is_not_native(self):
        # GIVEN an app that grows RSS by ~40 MB in its first 20 requests per worker, then stays flat
        server = self.server("burst.py", summary=0)
        # WHEN traffic keeps coming for 8 s (RSS is read once a second: 8 looks
        # after the burst; a workload's length, not a timing assertion)
        end = time.monotonic() + 8
        while time.monotonic() < end:
            server.get("/")
        # THEN no NATIVE line
        self.assertEqual(native(server), [])

    def test_a_python_leak_is_not_native(self):
        server = self.server("leak_bytes.py", summary=0, args=["--env", "LEAK_SIZE=16384"])
        def leaked():
            for _ in range(40):
                server.get("/")
            return any(l.startswith("[leakwatch] LEAK") for l in server.log().splitlines())
        wait_until(leaked, 60, "a LEAK line")
        for _ in range(20):
            for _ in range(40):
                server.get("/")
        self.assertEqual(native(server), [])


if __name__ == "__main__":
    unittest.main()

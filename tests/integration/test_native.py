"""Native growth is told apart: a C-level leak gets NATIVE, a one-time burst
of native allocations that then stays flat does not, nor does a Python leak."""
import re
import socket
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import UwsgiTestCase, free_port, read_document, wait_until


def native(server):
    return [l for l in server.log().splitlines() if l.startswith("[leakwatch] NATIVE")]


class NativeTest(UwsgiTestCase):

    def test_a_native_leak_is_announced(self):
        # GIVEN an app that leaks 64 KiB of C malloc per request
        server = self.server("leak_native.py", summary=0)
        # WHEN it runs for a while
        def announced():
            for _ in range(40):
                server.get("/")
            return native(server)
        found = wait_until(announced, 60, "a NATIVE line")
        # THEN the line says RSS grows and no Python site explains it
        self.assertRegex(found[0], r"^\[leakwatch\] NATIVE worker \d pid \d+: rss \+[\d.]+ \w+ "
                                   r"over \d+ requests .* that no Python site explains")
        self.assertFalse(any(l.startswith("[leakwatch] LEAK") for l in server.log().splitlines()))

    def test_a_native_leak_served_flat_out_is_announced_by_4T(self):
        # GIVEN the native leak (64 KiB a request) and a 1 MiB threshold
        server = self.server("leak_native.py", summary=0, args=["--leakwatch-threshold", "1M"])
        # WHEN 4 clients send requests as fast as they can, never pausing
        # for the analyst, until the NATIVE line (read once a second, RSS
        # grew some 30 MiB a worker before the first two looks)
        stop, sent = threading.Event(), [0]
        def client():
            while not stop.is_set() and not native(server) and sent[0] < 20000:
                self.assertEqual(server.get("/")[0], 200)
                sent[0] += 1
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: client(), range(4)))
        found = native(server)
        self.assertTrue(found, f"no NATIVE line after {sent[0]} requests")
        # THEN the worker it names had leaked at most 4T since its warm-up,
        # by its request count and by its RSS
        m = re.search(r"rss \+([\d.]+) (KiB|MiB|GiB) over (\d+) requests", found[0])
        rss = float(m[1]) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]]
        self.assertLessEqual(int(m[3]) * 65536, 4 << 20, found[0])
        self.assertLessEqual(rss, 4 << 20, found[0])
        self.assertGreaterEqual(rss, 1 << 20, found[0])

    def test_a_burst_then_flat_is_not_native(self):
        # GIVEN an app that grows RSS by ~80 MB a worker in one request after
        # its warm-up, then stays flat (a ramp of that size over many requests
        # is a leak until it stops: native growth is announced by 4T)
        server = self.server("burst.py", summary=0,
                             args=["--env", "BURST_AFTER=30", "--env", "BURST_REQUESTS=1"])
        # WHEN traffic keeps coming for 8 s (a workload's length, not a
        # timing assertion: RSS is read at least once a second)
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

    def test_memory_malloc_holds_free_is_not_native(self):
        # GIVEN an app whose RSS grows 64 KiB a request, all of it a buffer
        # freed back to a heap that glibc is told never to trim (its thread
        # arenas keep freed memory the same way), and a 1 MiB threshold
        port = free_port()
        server = self.server("malloc_holds_free.py", summary=0, args=[
            "--leakwatch-threshold", "1M", "--leakwatch-report", f":{port}"])
        # WHEN 600 requests come (some 18 MiB a worker), for at least 4 s
        # so that the master reads each worker's RSS several times
        end = time.monotonic() + 4
        for i in range(600):
            self.assertEqual(server.get("/")[0], 200)
        while time.monotonic() < end:
            server.get("/")
        # THEN the report shows what each worker's malloc holds free, and no
        # NATIVE line calls it growth
        def reported():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                doc = read_document(s)
            return [w for w in doc["workers"] if w["malloc_free_bytes"] >= 100 * 65536] or None
        rows = wait_until(reported, 10, "a worker's malloc_free_bytes in the report")
        self.assertGreaterEqual(rows[0]["requests"], 100)
        self.assertEqual(native(server), [])


if __name__ == "__main__":
    unittest.main()

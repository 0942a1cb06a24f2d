"""What apps do to the runtime leakwatch lives in: gc.disable(),
tracemalloc.start() and allocator hooks of their own. leakwatch keeps working,
or says clearly why it cannot."""
import os
import unittest

from harness import APPS, UwsgiTestCase, leak_line, wait_until

APP = os.path.join(APPS, "app_hooks.py")
REPLACED = "the app replaced Python's allocator"


def garbage_line():
    with open(APP) as f:
        return next(n for n, l in enumerate(f, 1) if "# GARBAGE-LINE" in l)


class AppHooksTest(UwsgiTestCase):

    def start(self):
        return self.server("app_hooks.py", processes=1, summary=0,
                           args=["--leakwatch-threshold", "512k"])

    def leak_alerts(self, server):
        return [l for l in server.leakwatch_lines() if l.startswith("[leakwatch] LEAK ")]

    def drive_until_leak(self, server):
        where = f"{APP}:{leak_line('app_hooks.py')} "
        def leaked():
            for _ in range(20):
                self.assertEqual(server.get("/")[0], 200)
                self.assertEqual(server.get("/leak")[0], 200)
            return [l for l in self.leak_alerts(server) if where in l]
        return wait_until(leaked, 90, "a LEAK line at the leaking line")

    def test_gc_disabled_garbage_is_no_leak_and_a_leak_still_is(self):
        # GIVEN an app that disabled gc and makes 10 KiB of cyclic garbage per request
        server = self.start()
        # WHEN it also leaks 16 KiB per request
        self.drive_until_leak(server)
        # THEN the leak is announced and the garbage never is
        garbage = f"{APP}:{garbage_line()} "
        self.assertEqual([l for l in self.leak_alerts(server) if garbage in l], [])

    def test_tracemalloc_on_top_of_leakwatch_changes_nothing(self):
        # GIVEN the app starts tracemalloc (its hooks go on top of leakwatch's)
        server = self.start()
        status, body = server.get("/tracemalloc")
        self.assertEqual(status, 200)
        words = body.decode().split()
        self.assertEqual(words[:2], ["tracing", "True"])
        # WHEN it leaks
        self.drive_until_leak(server)
        # THEN the leak is found at its line, and leakwatch did not step back
        status, body = server.get("/tracemalloc")
        self.assertGreater(int(body.decode().split()[2]), 0)  # tracemalloc traced too
        self.assertFalse(any(REPLACED in l for l in server.leakwatch_lines()))

    def test_hooks_that_skip_leakwatch_are_reported(self):
        # GIVEN a worker serving requests under leakwatch
        server = self.start()
        for _ in range(30):
            self.assertEqual(server.get("/")[0], 200)
        self.assertFalse(any(REPLACED in l for l in server.leakwatch_lines()))
        # WHEN the app installs allocator hooks that go straight to pymalloc
        self.assertEqual(server.get("/bypass")[0], 200)
        # THEN leakwatch says, once, that it no longer sees this worker's
        # allocations, and the worker goes on serving
        wait_until(lambda: any(REPLACED in l for l in server.leakwatch_lines()), 30,
                   "the line saying the allocator was replaced")
        for _ in range(30):
            self.assertEqual(server.get("/leak")[0], 200)
        lines = [l for l in server.leakwatch_lines() if REPLACED in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("worker 1:", lines[0])


if __name__ == "__main__":
    unittest.main()

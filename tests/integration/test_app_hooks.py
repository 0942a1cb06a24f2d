"""What apps do to the runtime leakwatch lives in: gc.disable(),
tracemalloc.start(), allocator hooks of their own, a fork that returns into
uWSGI. leakwatch keeps working, or says clearly why it cannot."""
import json
import os
import signal
import unittest

from harness import APPS, UwsgiTestCase, free_port, http_get, leak_line, wait_until

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


class ForkTest(UwsgiTestCase):

    def test_a_child_the_app_forks_publishes_nothing(self):
        # GIVEN one worker whose app forks at import (--lazy-apps: in the
        # worker) a child that goes on into uWSGI's request loop as worker 1
        http = free_port()
        server = self.server("forking.py", processes=1, summary=0,
                             args=["--lazy-apps", "--leakwatch-sample-rate", "exact",
                                   "--leakwatch-http", f":{http}"])
        app = os.path.join(APPS, "forking.py")
        with open(app) as f:
            child_line = next(n for n, l in enumerate(f, 1) if "# CHILD-LINE" in l)
        # WHEN the child serves 30 requests, keeping 64 KiB each
        for _ in range(30):
            status, body = server.get("/")
            self.assertEqual(status, 200)
            who, child = body.split()
            self.assertEqual(who, b"child")
        # ... and then ends, and the worker, which waited for it, serves 30
        os.kill(int(child), signal.SIGKILL)
        served = []
        def worker_serves():
            served.append(server.get("/")[1])
            return served[-1].startswith(b"worker ")
        wait_until(worker_serves, 30, "the worker to serve after its child ended")
        for _ in range(29):
            served.append(server.get("/")[1])
        by_worker = sum(answer.startswith(b"worker ") for answer in served)
        self.assertEqual(by_worker, 30, served)
        def report():
            doc = json.loads(http_get(http, "/report.json")[1])
            mine = [s for s in doc["sites"] if s["file"] == app and
                    s["line"] == leak_line("forking.py")]
            return (doc, mine) if mine and mine[0]["live_bytes"] >= 30 * 65536 else None
        doc, mine = wait_until(report, 30, "the worker's own leak in the report")
        # THEN the master counted the worker's requests only, never saw the
        # child's sites (it is not the ring's writer), sees the worker's own,
        # and the child said once that it publishes nothing
        self.assertEqual(doc["workers"][0]["requests"], by_worker)
        self.assertEqual([s for s in doc["sites"] if s["line"] == child_line], [])
        said = [l for l in server.leakwatch_lines() if "a child the app forked" in l]
        self.assertEqual(len(said), 1, said)
        self.assertIn(f"pid {int(child)},", said[0])
        status, metrics = http_get(http, "/metrics")
        self.assertIn("\nleakwatch_lost_total 0\n", metrics.decode())

if __name__ == "__main__":
    unittest.main()

"""Leaks are announced at the right line, once and again only when they
double; growth that stops is never announced; a file --leakwatch-ignore
matches is neither announced nor reported; alerts reach uWSGI alarms; a
worker killed mid-run leaves the master's view sound."""
import json
import os
import re
import signal
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import APPS, UwsgiTestCase, free_port, http_get, leak_line, wait_until

LEAK = re.compile(r"^\[leakwatch\] LEAK (.+):(\d+) in (.+)\(\): \+([\d.]+) (B|KiB|MiB|GiB) "
                  r"over (\d+) requests \(.*\) on workers? ([\d,]+)$")
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def alerts(server):
    out = []
    for line in server.log().splitlines():
        m = LEAK.match(line)
        if m:
            out.append({"file": m[1], "line": int(m[2]), "function": m[3],
                        "growth": float(m[4]) * UNITS[m[5]], "requests": int(m[6]),
                        "workers": m[7]})
    return out


SUM = re.compile(r"^\[leakwatch\] LEAK (function .+\(\) in |file )")
LISTED = re.compile(r"(?:: |, )([^,]+?):(\d+) in \S+\(\)(?: via libraries)? \+")


def named(server):
    """The (file, line) sites the first LEAK alert names, most grown first:
    its line, or a function's or file's sum's lines; [] before any."""
    lines = server.log().splitlines()
    for i, line in enumerate(lines):
        if SUM.match(line) and i + 1 < len(lines):
            return [(f, int(n)) for f, n in LISTED.findall(lines[i + 1])]
        m = LEAK.match(line)
        if m:
            return [(m[1], int(m[2]))]
    return []


def drive_until(server, predicate, what, paths=("/",), limit=3000, batch=5):
    """Sends requests in small batches until predicate() holds (or fails at limit).
    A leak shows with requests, not with time: wait on traffic, not on a clock.
    After each batch the analyst looks at all of it (a server started with
    report=True), so a loaded machine delays an alert, never inflates it; a
    batch is a few looks' worth of a leak at most, so that the series the
    analyst judges has the leak's shape, not a staircase of batches."""
    sent = said = 0
    while sent < limit:
        drive(server, list(paths), batch, concurrency=2, start=sent)
        sent += batch
        raised = len(server.wait_judged()["alerts"])
        found = predicate() or (raised > said and wait_until_said(predicate))
        said = raised
        if found:
            return found
    raise AssertionError(f"no {what} after {sent} requests")


def wait_until_said(predicate):
    """An alert is logged just after the look that raised it: a moment."""
    try:
        return wait_until(predicate, 5, "the alert in the log")
    except AssertionError:
        return None


def drive(server, paths, n, concurrency=4, start=0):
    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(lambda i: server.get(paths[i % len(paths)])[0],
                                 range(start, start + n)))
    assert statuses == [200] * n


class DetectionTest(UwsgiTestCase):

    def test_a_leak_is_announced_at_its_line(self):
        # GIVEN 2 workers, a 512 KiB threshold and a 16 KiB-per-request leak
        server = self.server("leak_bytes.py", report=True, args=["--leakwatch-threshold", "512k",
                                                     "--env", "LEAK_SIZE=16384"], summary=0)
        # WHEN requests keep coming
        first = drive_until(server, lambda: alerts(server), "LEAK line")[0]
        # THEN the alert names the leaking line, plausibly early, on both workers
        self.assertEqual((first["file"], first["line"], first["function"]),
                         (os.path.join(APPS, "leak_bytes.py"), leak_line("leak_bytes.py"),
                          "application"))
        self.assertGreaterEqual(first["growth"], 512 * 1024)
        self.assertLessEqual(first["growth"], 3 * 512 * 1024)
        lines = server.log().splitlines()
        at = lines.index(next(l for l in lines if l.startswith("[leakwatch] LEAK")))
        self.assertTrue(lines[at + 1].startswith("[leakwatch]   endpoints: / (+"), lines[at + 1])
        self.assertIn("traceback", lines[at + 2])

    def test_a_leak_whose_traffic_falls_is_announced_by_2t(self):
        # GIVEN one worker, a 256 KiB threshold and an 8 KiB-per-request
        # leak served fast, 30 requests after warm-up (0.9 T) in some 0.6 s
        # (the analyst looks every 2-20 ms: the series has their points)
        server = self.server("leak_bytes.py", processes=1, summary=0,
                             args=["--leakwatch-threshold", "256k", "--env", "LEAK_SIZE=8192"])
        for i in range(50):
            self.assertEqual(server.get("/")[0], 200)
            time.sleep(0.02 if i >= 20 else 0)
        # WHEN its traffic falls to about three requests a second
        said = re.compile(r"^\[leakwatch\] LEAK \S+:(\d+) in application\(\): "
                          r"\+([\d.]+) (B|KiB|MiB) over ", re.M)
        for _ in range(200):
            if said.search(server.log()):
                break
            self.assertEqual(server.get("/")[0], 200)
            time.sleep(0.3)
        # THEN it is announced by 2 T: judged against the requests served
        # too, its pace holds (against work, which counts seconds of
        # activity as well, it fell to a quarter, and the leak was said at
        # 3.2 T)
        found = said.search(server.log())
        self.assertIsNotNone(found, server.log())
        self.assertEqual(int(found[1]), leak_line("leak_bytes.py"))
        self.assertLessEqual(float(found[2]) * UNITS[found[3]], 2 * 256 * 1024, found[0])

    def test_a_leak_under_threads_is_announced(self):
        # GIVEN 2 workers x 4 threads sharing a leaking list
        server = self.server("leak_bytes.py", report=True, summary=0, args=[
            "--threads", "4", "--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384"])
        found = drive_until(server, lambda: alerts(server), "LEAK line")
        self.assertEqual((found[0]["file"], found[0]["line"]),
                         (os.path.join(APPS, "leak_bytes.py"), leak_line("leak_bytes.py")))

    def test_alerts_repeat_only_when_the_leak_doubles(self):
        server = self.server("leak_bytes.py", report=True, args=["--leakwatch-threshold", "512k",
                                                     "--env", "LEAK_SIZE=16384"], summary=0)
        drive(server, ["/"], 700, concurrency=2)
        drive_until(server, lambda: len(alerts(server)) >= 2, "second LEAK line")
        found = alerts(server)
        # 700 requests x 16 KiB = 11 MiB: a handful of alerts, not hundreds
        self.assertLessEqual(len(found), 6)
        for a, b in zip(found, found[1:]):
            self.assertGreaterEqual(b["growth"], 1.9 * a["growth"])

    def test_a_logger_per_request_is_named_at_the_application_line(self):
        # GIVEN a logger made per request: logging keeps it (getLogger's line)
        # and its level cache (the line that logs): a leak over two lines
        server = self.server("leak_logger.py", report=True, summary=0,
                             args=["--leakwatch-threshold", "256k"])
        found = drive_until(server, lambda: named(server), "LEAK line", limit=6000, batch=100)
        # THEN the first alert names the application's lines, getLogger's first,
        # with what logging allocated for it said to be via libraries
        app = os.path.join(APPS, "leak_logger.py")
        self.assertEqual(found[0], (app, leak_line("leak_logger.py")), server.log())
        self.assertTrue(all(f == app for f, _ in found), found)
        self.assertRegex(server.log(), r"(growing inside libraries called from this line|"
                         r"leak_logger\.py:\d+ in application\(\) via libraries \+)")

    def test_a_memo_keyed_by_request_data_is_announced(self):
        # GIVEN a memo dict that keeps every distinct query's rendering (~3 KiB)
        server = self.server("leak_memo.py", report=True, summary=0,
                             args=["--leakwatch-threshold", "512k"])
        paths = [f"/search?q=item{i}" for i in range(6000)]
        found = drive_until(server, lambda: alerts(server), "LEAK line", paths=paths, limit=6000)
        # THEN the line that makes what the memo keeps is named
        self.assertEqual((found[0]["file"], found[0]["line"], found[0]["function"]),
                         (os.path.join(APPS, "leak_memo.py"), leak_line("leak_memo.py"), "render"))

    def test_growth_that_stops_is_never_announced(self):
        # GIVEN the default threshold and five shapes of growth that stops
        server = self.server("plateaus.py", summary=0, report=True)
        # WHEN 20,000 requests are spread over them
        drive(server, ["/cache", "/lazy", "/cycles", "/saw", "/intern"], 20000, concurrency=4)
        # THEN, once the analyst has looked at every request, no LEAK raised
        raised = [a["text"] for a in server.wait_judged()["alerts"] if a["kind"] == "LEAK"]
        self.assertEqual(raised, [])
        self.assertEqual(alerts(server), [], server.leakwatch_lines()[-20:])

    def test_an_ignored_file_is_never_announced_nor_reported(self):
        # GIVEN an app that leaks LEAK_SIZE bytes a request in its own file and
        # twice that in vendor/cache.py, which --leakwatch-ignore matches (exact
        # sampling: tracked bytes are then counted, not estimated)
        size, vendor_factor = 16384, 2  # two_leaks.py's LEAK_SIZE and VENDOR_FACTOR
        port = free_port()
        server = self.server("two_leaks.py", report=True, summary=0, args=[
            "--leakwatch-threshold", "512k", "--leakwatch-sample-rate", "exact",
            "--env", f"LEAK_SIZE={size}", "--leakwatch-ignore", "*/vendor/*",
            "--leakwatch-http", f":{port}"])
        app = (server.app, leak_line("two_leaks.py"))
        vendor = os.path.join(APPS, "vendor", "cache.py")
        # WHEN requests come until the app's own leak is announced
        drive_until(server, lambda: app in {(a["file"], a["line"]) for a in alerts(server)},
                    "the app's LEAK line")
        # THEN every LEAK line names the app's line: the larger leak never is
        self.assertEqual({(a["file"], a["line"]) for a in alerts(server)}, {app})
        # and neither /report.json nor /metrics names vendor/cache.py, while the
        # workers' tracked bytes hold both leaks of every request they served
        def report():
            doc = json.loads(http_get(port, "/report.json")[1])
            served = sum(w["requests"] for w in doc["workers"])
            tracked = sum(w["tracked_bytes"] for w in doc["workers"])
            return doc if tracked >= served * (1 + vendor_factor) * size else None
        doc = wait_until(report, 20, "tracked bytes to hold both leaks")
        self.assertIn(server.app, {s["file"] for s in doc["sites"]})
        self.assertNotIn(vendor, {s["file"] for s in doc["sites"]})
        self.assertNotIn(vendor, {f["file"] for s in doc["sites"] for f in s["traceback"]})
        self.assertNotIn(vendor.encode(), http_get(port, "/metrics")[1])

    def test_alerts_reach_the_uwsgi_alarm(self):
        out = os.path.join(self.id().replace(".", "_") + ".alarm")
        out = os.path.join("/tmp", out)
        self.addCleanup(lambda: os.path.exists(out) and os.unlink(out))
        server = self.server("leak_bytes.py", report=True, summary=0, args=[
            "--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384",
            "--alarm", f"leakwatch cmd:cat >> {out}"])
        drive_until(server, lambda: alerts(server), "LEAK line")
        text = wait_until(lambda: os.path.exists(out) and open(out).read(), 20,
                          "the alarm command to write the alert")
        # each alarm runs its own `cat`: a HELD raised right after the LEAK
        # may reach the file first, and messages carry no newline
        said = ["[leakwatch] " + m for m in text.split("[leakwatch] ") if m]
        leaks = [m for m in said if m.startswith("[leakwatch] LEAK ")]
        self.assertTrue(leaks, text)
        self.assertIn("leak_bytes.py:%d" % leak_line("leak_bytes.py"), leaks[0])

    def test_a_worker_killed_mid_run_leaves_the_master_sound(self):
        server = self.server("leak_bytes.py", report=True, args=["--leakwatch-threshold", "512k",
                                                     "--env", "LEAK_SIZE=16384"])
        drive_until(server, lambda: alerts(server), "first LEAK line")
        before = len(alerts(server))
        victim = server.worker_requests()[1][0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: server.worker_requests()[1][0] not in (0, victim), 20,
                   "worker 1 to be respawned")
        # the leak keeps being followed: a later alert, still at the right line
        later = drive_until(server, lambda: alerts(server)[before:], "alert after the respawn")
        self.assertEqual(later[0]["line"], leak_line("leak_bytes.py"))
        self.assertIsNone(server.proc.poll())


if __name__ == "__main__":
    unittest.main()

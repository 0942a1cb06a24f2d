"""The master's site table turns over: worker generations that each ran code
no other ran fill the master's 65,536 sites, and a leak at a line first seen
after that still gets its LEAK line, named at its line.

Before sites were evicted (issue 14, item 3), such a leak went to the
master's "other sites", which was never judged: this test timed out waiting
for the LEAK line. No option shrinks the table for the test: nine
generations of one worker, recycled by --max-requests, allocate at 14,000
new lines each; about 12,000 of them are sampled (so about 108,000 sites in
all, each generation under a worker's own 16,384-site cap)."""
import os
import re
import time

from harness import APPS, UwsgiTestCase, free_port, http_get, leak_line

APP = "drill_sites.py"     # with NEW_CODE_PER_PID=1
GENERATIONS = 9
SITES_PER_GENERATION = 14000
SAMPLED = 0.8              # of a burst's lines, sampled at least once (measured: 0.86)
MASTER_SITES = 65536       # LW_MAX_SITES in plugin/analyst.c
MAX_REQUESTS = 120         # a generation's requests: the burst, then requests that flush it
LEAK = re.compile(r"^\[leakwatch\] LEAK (.+):(-?\d+) in (.+)\(\): ")
LOST = re.compile(r"^leakwatch_lost_total (\d+)$", re.M)


def pid_of(server, path="/"):
    status, body = server.get(path, timeout=60)
    assert status == 200, f"{path} answered {status}"
    return int(body.split()[0])


def request_until(server, path, done, timeout, what):
    """Requests `path` back to back until done(pid answering) is truthy; returns it."""
    deadline = time.monotonic() + timeout
    while not (value := done(pid_of(server, path))):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return value


class TestEviction(UwsgiTestCase):
    def test_leak_found_after_the_site_table_turned_over(self):
        self.assertGreater(GENERATIONS * SITES_PER_GENERATION * SAMPLED, 1.5 * MASTER_SITES)
        http = free_port()
        # GIVEN one worker, sampling nearly every ~100-byte object, recycled
        # every MAX_REQUESTS requests (and no sooner than a second)
        server = self.server(APP, processes=1, args=[
            "--leakwatch-threshold", "512k", "--leakwatch-sample-rate", "64",
            "--leakwatch-http", f":{http}", "--max-requests", str(MAX_REQUESTS),
            "--min-worker-lifetime", "1", "--env", f"N_SITES={SITES_PER_GENERATION}",
            "--env", "NEW_CODE_PER_PID=1"])
        # WHEN generation after generation runs code no other ran, more sites
        # than the master's table holds: the requests after each burst
        # publish the sites the full ring deferred, until the worker is recycled
        pids = []
        for _ in range(GENERATIONS):
            pid = pid_of(server, "/burst")
            pids.append(pid)
            request_until(server, "/", lambda now: now != pid, 60, f"generation {pid} to end")
        self.assertEqual(len(set(pids)), GENERATIONS)
        # AND the next generation leaks at a line no generation used before
        site = (os.path.join(APPS, APP), leak_line(APP))

        def alerted(_):
            return [l for l in server.leakwatch_lines()
                    if (m := LEAK.match(l)) and (m[1], int(m[2])) == site]
        # THEN that leak gets its LEAK line, named at its line
        lines = request_until(server, "/leak", alerted, 60, f"a LEAK line for {site[0]}:{site[1]}")
        self.assertEqual(len(lines), 1)
        # AND no site definition found the table full: nothing folded, nothing lost
        status, body = http_get(http, "/metrics", timeout=30)
        self.assertEqual(status, 200)
        self.assertEqual(int(LOST.search(body.decode())[1]), 0)

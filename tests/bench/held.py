#!/usr/bin/python3
"""make bench, part 4: what the walk for what holds a leak costs (issue 18).

One worker serves tests/bench/held_app.py: a heap of --objects tracked
objects (default 1,000,000) and a class-level list that /leak grows by
2 KiB a request. Sequential requests to /leak (one client) until the
master announces the leak and the worker, after one of its requests, walks
from the site's sampled objects and answers (the HELD line). The walk runs
after the response is sent, so the request it follows sees nothing; the
next one waits for it: the pause is the largest request time around the
walk, beside the median request time. Throughput of /tiny (wrk, 2
connections) is measured in rounds before the leak and after the walk, on
the same server: what is left of the walk's cost once it is done.

Run once per --hold-budget value (default: off, the same leak and
collections without the walk, whose largest request time is what the
pause is compared with; the default 50ms; and 10s, which lets the walk
finish on this heap to show what it would take). The largest request
time includes what leakwatch's collection before judging a suspect costs
on such a heap (--leakwatch-gc auto), in every configuration.
Timing never fails this script; a worker that dies does.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import free_port, http_get  # noqa: E402
from bench import fail, run_wrk, wrk_result  # noqa: E402

PLUGIN = os.path.join(ROOT, "leakwatch_plugin.so")
HELD = re.compile(r"^\[leakwatch\] HELD .+ held by: (.+) \((\d+) of (\d+) samples, ([\d.]+) ms"
                  r"(, cut short: time budget spent)?\)$", re.M)
LEAK = re.compile(r"^\[leakwatch\] LEAK .+$", re.M)
HELD_UNKNOWN = re.compile(r"^\[leakwatch\] HELD .+ held by: unknown \((.+)\)$", re.M)


class Server:
    def __init__(self, budget, objects):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-held-", suffix=".log", delete=False)
        cmd = ["uwsgi", "--plugin", "python3", "--plugin", PLUGIN,
               "--http-socket", f"127.0.0.1:{self.port}",
               "--wsgi-file", os.path.join(HERE, "held_app.py"), "--master", "--processes", "1",
               "--disable-logging", "--die-on-term", "--env", f"LEAKWATCH_BENCH_OBJECTS={objects}",
               "--leakwatch-threshold", "256k", "--leakwatch-hold-budget", budget]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                if http_get(self.port, "/tiny", timeout=60)[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail(f"held: uWSGI did not start; see {self.log.name}")
            time.sleep(0.2)

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: SIGTERM makes uWSGI 2.0 reload
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def worker_cpu_ns(server):
    """The worker's CPU time so far, from the scheduler."""
    pid = subprocess.run(["pgrep", "-P", str(server.proc.pid)], stdout=subprocess.PIPE,
                         text=True).stdout.split()
    if len(pid) != 1:
        fail(f"held: expected one worker, found {pid}; see {server.log.name}")
    with open(f"/proc/{pid[0]}/schedstat") as f:
        return int(f.read().split()[0])


def tiny_rps(server, rounds, seconds):
    """Rounds of wrk on /tiny: [(req/s, worker CPU us per request)]."""
    out = []
    for _ in range(rounds):
        cpu0 = worker_cpu_ns(server)
        n, rps = wrk_result(server, "/tiny", run_wrk(server, "/tiny", seconds))
        time.sleep(0.2)  # the last answers
        out.append((rps, (worker_cpu_ns(server) - cpu0) / 1000.0 / max(n, 1)))
    return out


def one(budget, args):
    server = Server(budget, args.objects)
    try:
        tiny_rps(server, 1, args.seconds)  # warm-up, not counted
        before = tiny_rps(server, args.rounds, args.seconds)
        times = []
        held = None
        deadline = time.monotonic() + 300
        while not held:
            t0 = time.perf_counter()
            if http_get(server.port, "/leak", timeout=60)[0] != 200:
                fail(f"held: /leak failed; see {server.log.name}")
            times.append(time.perf_counter() - t0)
            if len(times) % 10 == 0:
                text = server.text()
                held = HELD.search(text) or HELD_UNKNOWN.search(text) or (
                    budget == "off" and LEAK.search(text))
            if time.monotonic() > deadline:
                fail(f"held: no HELD line; see {server.log.name}")
        for _ in range(20):  # the request that waited for the walk is among these
            t0 = time.perf_counter()
            http_get(server.port, "/leak", timeout=60)
            times.append(time.perf_counter() - t0)
        after = tiny_rps(server, args.rounds, args.seconds)
        if server.proc.poll() is not None:
            fail(f"held: uWSGI exited; see {server.log.name}")
        median_ms = statistics.median(times) * 1000
        said = held[0].split("held by: ", 1)[1] if "held by: " in held[0] else "(no walk)"
        print(f"  budget {budget:>5}: {said}")
        print(f"    request time median {median_ms:.2f} ms, largest {max(times) * 1000:.1f} ms "
              f"(the pause) over {len(times)} requests")
        rb, ra = [r for r, _ in before], [r for r, _ in after]
        cb, ca = [c for _, c in before], [c for _, c in after]
        print(f"    /tiny after the alert against before it: req/s {statistics.median(ra):.0f} / "
              f"{statistics.median(rb):.0f} = {statistics.median(ra) / statistics.median(rb):.3f}, "
              f"worker CPU per request {statistics.median(ca):.1f} / {statistics.median(cb):.1f} us "
              f"= {statistics.median(ca) / statistics.median(cb):.3f} "
              f"(medians of {args.rounds} rounds of {args.seconds} s)")
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--budgets", default="off,50ms,10s")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=2)
    args = ap.parse_args()
    print(f"held-by walk, {args.objects:,} tracked objects beside the leak:")
    for budget in args.budgets.split(","):
        one(budget, args)


if __name__ == "__main__":
    main()

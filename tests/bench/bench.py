#!/usr/bin/python3
"""make bench: throughput and worker RSS with and without leakwatch.

Both servers run side by side (one worker each, loopback); wrk drives one at
a time, alternating between them every round, so drift in the machine hits
both alike. Printed: requests/s medians and the median of the per-round
ratios (with / without), per endpoint; then each worker's RSS.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import free_port, http_get  # noqa: E402
PLUGIN = os.path.join(ROOT, "leakwatch_plugin.so")
ENDPOINTS = ["/json", "/alloc", "/tiny"]



class Server:
    def __init__(self, name, extra):
        self.name = name
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        cmd = ["uwsgi", "--plugin", "python3", "--http-socket", f"127.0.0.1:{self.port}",
               "--wsgi-file", os.path.join(HERE, "app.py"), "--master", "--processes", "1",
               "--disable-logging", "--die-on-term"] + extra
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{name}: uWSGI did not start; see {self.log.name}")
            time.sleep(0.1)

    def ready(self):
        try:
            return http_get(self.port, "/tiny", timeout=5)[0] == 200
        except OSError:
            return False

    def workers(self):
        return subprocess.run(["pgrep", "-P", str(self.proc.pid)], stdout=subprocess.PIPE,
                              text=True).stdout.split()

    def worker_cpu_ns(self):
        """CPU time the workers have run, from the scheduler (ns resolution)."""
        total = 0
        for pid in self.workers():
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total

    def worker_rss_kib(self):
        total = 0
        for pid in self.workers():
            with open(f"/proc/{pid}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])
        return total

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(30)


def wrk(server, path, seconds):
    """Returns (requests/s, worker CPU microseconds per request)."""
    cpu0 = server.worker_cpu_ns()
    out = subprocess.run(["wrk", "-t1", "-c2", f"-d{seconds}s",
                          f"http://127.0.0.1:{server.port}{path}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    cpu = server.worker_cpu_ns() - cpu0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if not m or not n:
        sys.exit("wrk failed:\n" + out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors[1]} errors on {path}")
    return float(m[1]), cpu / 1000.0 / max(1, int(n[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    args = ap.parse_args()

    configs = [("without", []),
               ("leakwatch", ["--plugin", PLUGIN])]
    servers = [Server(name, extra) for name, extra in configs]
    try:
        for s in servers:  # warm-up: imports, lazy init, caches
            for path in ENDPOINTS:
                wrk(s, path, 1)
        rps = {(s.name, p): [] for s in servers for p in ENDPOINTS}
        cpu = {(s.name, p): [] for s in servers for p in ENDPOINTS}
        for r in range(args.rounds):
            order = servers if r % 2 == 0 else list(reversed(servers))
            for path in ENDPOINTS:
                for s in order:
                    t, c = wrk(s, path, args.seconds)
                    rps[(s.name, path)].append(t)
                    cpu[(s.name, path)].append(c)
        print(f"throughput, {args.rounds} rounds x {args.seconds}s per endpoint and config, "
              f"1 worker, wrk -t1 -c2 on loopback")
        print(f"{'endpoint':10} {'without req/s':>14} {'leakwatch req/s':>16} {'ratio (median)':>15}")
        for path in ENDPOINTS:
            base = rps[("without", path)]
            lw = rps[("leakwatch", path)]
            ratios = [b and l / b for b, l in zip(base, lw)]
            print(f"{path:10} {statistics.median(base):14.0f} {statistics.median(lw):16.0f} "
                  f"{statistics.median(ratios):15.3f}   rounds: "
                  + " ".join(f"{x:.3f}" for x in ratios))
        print()
        print("worker CPU per request (scheduler run time / requests; less noisy than req/s)")
        print(f"{'endpoint':10} {'without us':>11} {'leakwatch us':>13} {'ratio (median)':>15}")
        for path in ENDPOINTS:
            base = cpu[("without", path)]
            lw = cpu[("leakwatch", path)]
            ratios = [l / b for b, l in zip(base, lw)]
            print(f"{path:10} {statistics.median(base):11.1f} {statistics.median(lw):13.1f} "
                  f"{statistics.median(ratios):15.3f}   rounds: "
                  + " ".join(f"{x:.3f}" for x in ratios))
        rss = {s.name: s.worker_rss_kib() for s in servers}
        print(f"worker RSS after the run: without {rss['without'] / 1024:.1f} MiB, "
              f"leakwatch {rss['leakwatch'] / 1024:.1f} MiB, "
              f"added {(rss['leakwatch'] - rss['without']) / 1024:.1f} MiB")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()

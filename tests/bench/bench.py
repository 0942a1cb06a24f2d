#!/usr/bin/python3
"""make bench: what leakwatch costs, in throughput, CPU and memory.

Part 1, throughput. Five servers of app.py run side by side (one worker
each, loopback):
  without   the app alone
  floor     allocator hooks that pass every call on, recording nothing
            (tests/bench/floor.c): the floor of any design built on them
  defaults  --plugin leakwatch_plugin.so, every setting at its default
  exact     the same with --leakwatch-sample-rate exact (every allocation)
  seed      no leakwatch; the app wrapped in the "seed recipe" middleware
            of app.py (tracemalloc with N frames started before Flask is
            imported; per request gc.collect(), take_snapshot(),
            compare_to(previous, "lineno")): what a user does by hand.
wrk drives one server at a time; within a round every endpoint is run
against every config back to back, and the order of the configs rotates
from round to round, so drift in the machine hits all configs alike.
Printed per endpoint: req/s of "without" and the median of the per-round
ratios config / without, for req/s and for worker CPU per request (the
scheduler's run time of the worker over the requests it served, counted by
the uWSGI stats server once the worker is idle again: less noisy than
req/s). The seed config serves about one request per second, so its rounds
use wrk -c1 and its req/s is requests served / time until the worker is
idle again, instead of wrk's count of requests completed in the window.

Part 2, worker RSS after part 1, and what leakwatch adds to it.

Part 3, soak. A fresh pair of servers (without, defaults), one worker each,
driven at the same time by wrk with a Lua script that varies the request
over many distinct paths and query strings (/item/<n>, UUIDs, slugs, /site/<n>
over 1000 generated allocation sites), in chunks of --soak-chunk seconds
until the leakwatch server has served --soak-requests. After every chunk
the master and worker RSS of both are sampled; at the end, the growth after
warm-up (from 10% of the requests to the end) of both, side by side.

Timing never fails this script; a server (master or worker) that dies, or
wrk reporting errors, does (exit status 1).
"""
import argparse
import json
import math
import os
import re
import signal
import socket
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
FLOOR = os.path.join(ROOT, "build", "bench", "floor_plugin.so")  # tests/bench/floor.c
ENDPOINTS = ["/json", "/alloc", "/tiny"]
WRK_TIMEOUT = "30s"   # a slow response on a noisy VM is not an error here
SOAK_WARMUP = 0.10    # growth is judged from this fraction of the requests on

SERVERS = []          # every server started, stopped on exit whatever happens


def fail(message):
    print(f"bench: FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])


def private_kib(pid):
    """The pages only this process maps (RSS less what it shares with the
    master and other processes: libraries' code, the master's heap before
    fork, shared memory), from /proc/PID/smaps_rollup."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        text = f.read()
    return sum(int(m) for m in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+)", text, re.M))


class Server:
    def __init__(self, name, extra, env=None):
        self.name = name
        self.port = free_port()
        self.stats_port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        cmd = ["uwsgi", "--plugin", "python3", "--http-socket", f"127.0.0.1:{self.port}",
               "--wsgi-file", os.path.join(HERE, "app.py"), "--master", "--processes", "1",
               "--stats", f"127.0.0.1:{self.stats_port}",
               "--disable-logging", "--die-on-term"] + extra
        for key, value in (env or {}).items():
            cmd += ["--env", f"{key}={value}"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        SERVERS.append(self)
        deadline = time.monotonic() + 60
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail(f"{name}: uWSGI did not start; see {self.log.name}")
            time.sleep(0.1)
        self.worker_pid = self.worker()

    def ready(self):
        try:
            return http_get(self.port, "/tiny", timeout=30)[0] == 200
        except OSError:
            return False

    def worker(self):
        pids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], stdout=subprocess.PIPE,
                              text=True).stdout.split()
        if len(pids) != 1:
            fail(f"{self.name}: expected one worker, found {pids}; see {self.log.name}")
        return int(pids[0])

    def check_alive(self):
        """The master runs and its worker is the one it started with."""
        if self.proc.poll() is not None:
            fail(f"{self.name}: uWSGI exited with {self.proc.returncode}; see {self.log.name}")
        if self.worker() != self.worker_pid:
            fail(f"{self.name}: worker {self.worker_pid} died or was respawned; "
                 f"see {self.log.name}")

    def worker_cpu_ns(self):
        """CPU time the worker has run, from the scheduler (ns resolution)."""
        try:
            with open(f"/proc/{self.worker_pid}/schedstat") as f:
                return int(f.read().split()[0])
        except OSError:
            self.check_alive()
            raise

    def worker_rss_kib(self):
        return rss_kib(self.worker_pid)

    def master_rss_kib(self):
        return rss_kib(self.proc.pid)

    def stats(self):
        with socket.create_connection(("127.0.0.1", self.stats_port), timeout=30) as s:
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return json.loads(b"".join(chunks))

    def served(self):
        """Requests the worker has finished, as the master counts them."""
        return sum(w["requests"] for w in self.stats()["workers"])

    def worker_sleeping(self):
        """True when the worker is blocked (state S), not running nor runnable."""
        try:
            with open(f"/proc/{self.worker_pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "S"
        except OSError:
            self.check_alive()
            raise

    def wait_idle(self, timeout=120):
        """Waits until the worker stops running (wrk abandons in-flight requests
        at the end of its window, the worker still serves them); returns when.
        Idle: asleep, and no CPU time gained, at three looks 10 ms apart (a
        worker preempted on a busy machine is runnable, not asleep)."""
        deadline = time.monotonic() + timeout
        quiet, last = 0, self.worker_cpu_ns()
        while time.monotonic() < deadline:
            time.sleep(0.01)
            now = self.worker_cpu_ns()
            quiet = quiet + 1 if now == last and self.worker_sleeping() else 0
            if quiet == 2:
                return time.monotonic() - 0.02
            last = now
        fail(f"{self.name}: worker still busy {timeout}s after wrk ended")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        else:  # the master is gone; its workers may not be
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_wrk(server, url_path, seconds, connections=2, script=None, script_args=()):
    """Runs wrk against server; returns (requests completed, requests/s)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{server.port}{url_path}")
    if script_args:
        cmd += ["--", *map(str, script_args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_result(server, what, proc):
    out = proc.communicate()[0]
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if proc.returncode != 0 or not m or not n:
        server.check_alive()
        fail(f"wrk failed on {server.name} {what}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        fail(f"wrk saw {errors[1]} error responses from {server.name} {what}:\n{out}")
    # uWSGI's --http-socket closes the connection after every response, which
    # wrk counts as a read error (one per request): only connect errors and
    # timeouts are errors here
    sock = re.search(r"Socket errors: connect (\d+), read \d+, write \d+, timeout (\d+)", out)
    if sock and (int(sock[1]) or int(sock[2])):
        fail(f"wrk saw socket errors on {server.name} {what}:\n{out}")
    return int(n[1]), float(m[1])


def measure(server, path, seconds, slow=False):
    """One wrk window on one endpoint: (requests/s, worker CPU us per request,
    requests served)."""
    served0, cpu0 = server.served(), server.worker_cpu_ns()
    t0 = time.monotonic()
    _, rps = wrk_result(server, path, run_wrk(server, path, seconds, connections=1 if slow else 2))
    t_idle = server.wait_idle()
    served = server.served() - served0
    cpu = server.worker_cpu_ns() - cpu0
    server.check_alive()
    if served == 0:
        fail(f"{server.name} served no request on {path} in {seconds}s")
    if slow:
        rps = served / (t_idle - t0)
    return rps, cpu / 1000.0 / served, served


def median_ratio(values, base):
    return statistics.median([v / b for v, b in zip(values, base) if b])


def ratio(x, width=0):
    """A ratio with 4 significant digits whether it is 0.98 or 0.00012."""
    text = f"{x:.4f}" if x >= 0.01 else f"{x:.3e}"
    return f"{text:>{width}}"


def throughput(args):
    configs = [("without", [], None),
               ("floor", ["--plugin", FLOOR], None),
               ("defaults", ["--plugin", PLUGIN], None),
               ("exact", ["--plugin", PLUGIN, "--leakwatch-sample-rate", "exact"], None),
               ("seed", [], {"LEAKWATCH_BENCH_SEED": args.seed_frames})]
    servers = [Server(name, extra, env) for name, extra, env in configs]
    slow = {"seed"}
    for s in servers:  # warm-up: imports, lazy init, caches
        for path in ENDPOINTS:
            measure(s, path, 1, s.name in slow)
    seconds = {s.name: args.seed_seconds if s.name in slow else args.seconds for s in servers}
    rps = {(s.name, p): [] for s in servers for p in ENDPOINTS}
    cpu = {(s.name, p): [] for s in servers for p in ENDPOINTS}
    count = {(s.name, p): 0 for s in servers for p in ENDPOINTS}
    for r in range(args.rounds):
        order = servers[r % len(servers):] + servers[:r % len(servers)]
        for path in ENDPOINTS:
            for s in order:
                t, c, n = measure(s, path, seconds[s.name], s.name in slow)
                count[(s.name, path)] += n
                rps[(s.name, path)].append(t)
                cpu[(s.name, path)].append(c)
    names = [s.name for s in servers[1:]]

    print(f"== throughput: {args.rounds} rounds x {args.seconds}s per endpoint and config, "
          f"1 worker each, wrk -t1 -c2 on loopback (seed: {args.seed_seconds}s, -c1), "
          f"config order rotating per round")
    print(f"   seed = no leakwatch; tracemalloc.start({args.seed_frames}) before Flask is imported, "
          f"per request gc.collect() + take_snapshot() + compare_to(previous, 'lineno')")
    print("req/s: median of 'without', and medians of the per-round ratios config / without "
          "(higher is better; targets: defaults >= 0.98 of without on /json and /tiny, and\n"
          "defaults/floor, the median of the per-round ratios defaults / floor, >= 0.99)")
    print(f"{'endpoint':10} {'without req/s':>14}" + "".join(f" {n + ' ratio':>15}" for n in names)
          + f" {'defaults/floor':>15}")
    for path in ENDPOINTS:
        base = rps[("without", path)]
        print(f"{path:10} {statistics.median(base):14.1f}"
              + "".join(" " + ratio(median_ratio(rps[(n, path)], base), 15) for n in names)
              + " " + ratio(median_ratio(rps[("defaults", path)], rps[("floor", path)]), 15))
    print("  per-round ratios:")
    for path in ENDPOINTS:
        base = rps[("without", path)]
        for n in names:
            print(f"    {path:8} {n:9} " + " ".join(ratio(v / b) for v, b in zip(rps[(n, path)], base)))
    print()
    print("worker CPU per request (scheduler run time / requests served), median of 'without' in us, "
          "and medians of the per-round ratios config / without (lower is better; target:\n"
          "defaults at most 0.01 over floor)")
    print(f"{'endpoint':10} {'without us':>14}" + "".join(f" {n + ' ratio':>15}" for n in names)
          + f" {'defaults/floor':>15}")
    for path in ENDPOINTS:
        base = cpu[("without", path)]
        print(f"{path:10} {statistics.median(base):14.1f}"
              + "".join(f" {median_ratio(cpu[(n, path)], base):15.3f}" for n in names)
              + f" {median_ratio(cpu[('defaults', path)], cpu[('floor', path)]):15.3f}")
    print("  per-round ratios:")
    for path in ENDPOINTS:
        base = cpu[("without", path)]
        for n in names:
            print(f"    {path:8} {n:9} " + " ".join(f"{v / b:.3f}" for v, b in zip(cpu[(n, path)], base)))
    print("  seed recipe, worker CPU per request (median): "
          + ", ".join(f"{p} {statistics.median(cpu[('seed', p)]) / 1000:.0f} ms" for p in ENDPOINTS)
          + "; requests it served over all rounds: "
          + ", ".join(f"{p} {count[('seed', p)]}" for p in ENDPOINTS))
    print()

    rss = {s.name: s.worker_rss_kib() for s in servers}
    own = {s.name: private_kib(s.worker_pid) for s in servers}
    print("== worker RSS after the throughput run (targets: added by leakwatch <= 8 MiB, DESIGN.md; "
          "<= 2 MiB at defaults, issue 20)")
    print(f"   without  {rss['without'] / 1024:7.1f} MiB                   private "
          f"{own['without'] / 1024:7.1f} MiB")
    for n in names:
        print(f"   {n:8} {rss[n] / 1024:7.1f} MiB   added {(rss[n] - rss['without']) / 1024:+7.1f} MiB"
              f"   private {own[n] / 1024:7.1f} MiB   added {(own[n] - own['without']) / 1024:+7.1f} MiB"
              + ("   (tracemalloc, not leakwatch)" if n == "seed" else ""))
    print(flush=True)
    for s in servers:
        s.check_alive()
        s.stop()


SOAK_LUA = r"""
-- varied requests for the soak: numeric ids and UUIDs (fold into one endpoint
-- each), slugs (do not fold: more than a worker's endpoint table), query
-- strings, 1000 allocation sites, one request in 200 to the allocation-heavy
-- /alloc (about 15 samples each at the default sampling rate)
local n = 0
local hex = "0123456789abcdef"

local function hexstr(len)
  local t = {}
  for i = 1, len do
    local k = math.random(1, 16)
    t[i] = hex:sub(k, k)
  end
  return table.concat(t)
end

init = function(args)
  n = tonumber(args[1] or "0") or 0
  math.randomseed(n + 1)
end

request = function()
  n = n + 1
  local k = n % 200
  local path
  if k < 30 then
    path = "/tiny"
  elseif k < 50 then
    path = "/json?session=" .. n .. "&lang=" .. (n % 13)
  elseif k < 90 then
    path = "/item/" .. (n % 100003) .. "?page=" .. (n % 7)
  elseif k < 110 then
    path = "/item/" .. hexstr(8) .. "-" .. hexstr(4) .. "-" .. hexstr(4) .. "-" ..
           hexstr(4) .. "-" .. hexstr(12) .. "/detail?sort=name&n=" .. n
  elseif k < 135 then
    path = "/tag/topic-" .. (n % 5003)
  elseif k < 199 then
    path = "/site/" .. n .. "?v=" .. (n % 3)
  else
    path = "/alloc"
  end
  return wrk.format("GET", path)
end
"""


def soak(args):
    script = tempfile.NamedTemporaryFile("w", prefix="bench-soak-", suffix=".lua", delete=False)
    script.write(SOAK_LUA)
    script.close()
    base = Server("soak-without", [])
    lw = Server("soak-defaults", ["--plugin", PLUGIN])
    pair = [base, lw]
    series = []  # (seconds, {name: (requests, master KiB, worker KiB)})
    t_start = time.monotonic()

    def sample():
        row = {}
        for s in pair:
            s.check_alive()
            row[s.name] = (s.served(), s.master_rss_kib(), s.worker_rss_kib(),
                           private_kib(s.worker_pid))
        series.append((time.monotonic() - t_start, row))
        return row

    print(f"== soak: {args.soak_requests} requests to the leakwatch server (defaults), a server "
          f"without leakwatch driven alongside; 1 worker each, wrk -t1 -c4 each, varied paths "
          f"(Lua), chunks of {args.soak_chunk}s; RSS sampled after each chunk (KiB)")
    print(f"{'time s':>7} | {'without: requests':>17} {'master':>8} {'worker':>8} | "
          f"{'defaults: requests':>18} {'master':>8} {'worker':>8}")

    def show(t, row):
        b, l = row[base.name], row[lw.name]
        print(f"{t:7.0f} | {b[0]:17} {b[1]:8} {b[2]:8} | {l[0]:18} {l[1]:8} {l[2]:8}", flush=True)

    row = sample()
    show(*series[-1])
    rate = None
    while row[lw.name][0] < args.soak_requests:
        remaining = args.soak_requests - row[lw.name][0]
        seconds = args.soak_chunk
        if rate:  # the last chunk: only as long as it takes
            seconds = max(1, min(seconds, math.ceil(remaining / rate)))
        t0 = time.monotonic()
        procs = [(s, run_wrk(s, "/", seconds, connections=4, script=script.name,
                             script_args=[row[s.name][0]])) for s in pair]
        for s, p in procs:
            wrk_result(s, "soak", p)
        for s in pair:
            s.wait_idle()
        before = row[lw.name][0]
        row = sample()
        rate = (row[lw.name][0] - before) / (time.monotonic() - t0)
        show(*series[-1])

    print()
    print(f"growth after warm-up (from the first sample at >= {SOAK_WARMUP:.0%} of each server's "
          f"requests to the end), and the least-squares slope over the same samples:")
    growth = {}
    for s in pair:
        points = [(r[s.name][0], r[s.name][1], r[s.name][2]) for _, r in series]
        total = points[-1][0]
        start = next(i for i, p in enumerate(points) if p[0] >= SOAK_WARMUP * total)
        if start >= len(points) - 1:
            start = max(0, len(points) - 2)
        tail = points[start:]
        g_master = tail[-1][1] - tail[0][1]
        g_worker = tail[-1][2] - tail[0][2]
        growth[s.name] = (g_master, g_worker)
        slope = [slope_per(tail, i, 100_000) for i in (1, 2)]
        print(f"   {s.name:14} requests {tail[0][0]:>9} -> {tail[-1][0]:>9}: "
              f"master {tail[0][1]} -> {tail[-1][1]} KiB ({g_master:+} KiB, {slope[0]:+.1f} KiB/100k req), "
              f"worker {tail[0][2]} -> {tail[-1][2]} KiB ({g_worker:+} KiB, {slope[1]:+.1f} KiB/100k req)")
    dm = growth[lw.name][0] - growth[base.name][0]
    dw = growth[lw.name][1] - growth[base.name][1]
    print(f"   leakwatch's own growth after warm-up (defaults minus without): master {dm:+} KiB, "
          f"worker {dw:+} KiB, over {series[-1][1][lw.name][0]} requests")
    final = series[-1][1]
    print(f"   RSS added by leakwatch at the end: master "
          f"{final[lw.name][1] - final[base.name][1]:+} KiB, worker "
          f"{final[lw.name][2] - final[base.name][2]:+} KiB (its private pages "
          f"{final[lw.name][3] - final[base.name][3]:+} KiB)")
    metrics = lw.stats().get("metrics", {})
    shown = {k: v["value"] for k, v in metrics.items() if k.startswith("leakwatch.")}
    print("   leakwatch metrics at the end: "
          + ", ".join(f"{k[len('leakwatch.'):]}={v}" for k, v in shown.items()))
    for s in pair:
        s.check_alive()
        s.stop()
    os.unlink(script.name)


def slope_per(points, index, per):
    """Least-squares slope of points[.][index] against points[.][0], times per."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[index] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if not sxx:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx * per


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="throughput rounds (default 5)")
    ap.add_argument("--seconds", type=int, default=2,
                    help="wrk seconds per endpoint, config and round (default 2)")
    ap.add_argument("--seed-seconds", type=int, default=1,
                    help="wrk seconds per endpoint and round for the seed config, which serves "
                         "about one request a second (default 1; the worker then finishes the "
                         "request in flight, which counts)")
    ap.add_argument("--seed-frames", type=int, default=1,
                    help="tracemalloc frames of the seed recipe (default 1, the cheap variant)")
    ap.add_argument("--soak-requests", type=int, default=1_000_000,
                    help="requests to the leakwatch server in the soak (default 1000000; 0 skips)")
    ap.add_argument("--soak-chunk", type=int, default=10,
                    help="seconds of wrk between RSS samples in the soak (default 10)")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    t0 = time.monotonic()
    try:
        if not args.skip_throughput:
            throughput(args)
        if args.soak_requests > 0:
            soak(args)
    finally:
        for s in SERVERS:
            s.stop()
    print(f"bench.py took {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    main()

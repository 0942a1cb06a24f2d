"""Fault drills under load: workers SIGKILLed while wrk drives a leaking app
(prefork and --threads 2), --max-requests churn, a graceful reload (SIGHUP)
mid-run, one request that creates 50,000 allocation sites, and a storm of
10,000 bad clients on the master's two listeners.

Each drill prints its duration and what it measured on lines starting with
"DRILL", so the figures can be quoted. Timing is printed, never asserted.
Two tests pin down what the overflow drill found (both fixed since): the
bucket a worker's excess sites fold into reached the master named
"<no Python frame>", and leakwatch_lost_total forgot what a worker lost
once that worker was gone.
The load app, apps/drill_leak.py, leaks 4 KiB per request and spends 2 ms
in each, so wrk keeps every worker busy while memory grows by a few MiB a
second, not by hundreds."""
import json
import math
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import threading
import time
import unittest

from harness import (APPS, PLUGIN, PRELOAD, Server, UwsgiTestCase, free_port, http_get,
                     leak_line, wait_until)

THRESHOLD = 512 * 1024
LEAK_APP = "drill_leak.py"
LEAK_SIZE = 4096
LEAK_ARGS = ["--leakwatch-threshold", "512k", "--env", f"LEAK_SIZE={LEAK_SIZE}"]
WORKERS = 4

LEAK = re.compile(r"^\[leakwatch\] LEAK (.+):(-?\d+) in (.+)\(\): \+([\d.]+) (B|KiB|MiB|GiB) "
                  r"over (\d+) requests")
LOST = re.compile(r"^leakwatch_lost_total (\d+)$", re.M)
LEAK_COUNT = re.compile(r'^leakwatch_alerts_total\{kind="LEAK"\} (\d+)$', re.M)
SITE_SERIES = re.compile(r"^leakwatch_site_live_bytes\{", re.M)
SITES_LINE = re.compile(r"^\[leakwatch\] SITES worker (\d+) pid (\d+) after (\d+) requests: "
                        r"(.+) tracked in (\d+) sites, (\d+) samples, (\d+) lost")
OTHER_LINE = re.compile(r"^\[leakwatch\]   <other sites: table full>: ([\d.]+) (B|KiB|MiB|GiB) live")
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
ENGINE_SITES = 16384  # LW_ENGINE_SITES in plugin/engine.h: a worker's sites, overflow included


# ---- what the server says --------------------------------------------------

def leak_site():
    return os.path.join(APPS, LEAK_APP), leak_line(LEAK_APP)


def leak_alerts(lines, site=None):
    """The LEAK lines among `lines` that name `site` (file, line): by default
    drill_leak.py's LEAK-LINE."""
    site = site or leak_site()
    return [l for l in lines if (m := LEAK.match(l)) and (m[1], int(m[2])) == site]


def alerts_by_site(lines):
    counts = {}
    for l in lines:
        m = LEAK.match(l)
        if m:
            counts[(m[1], int(m[2]))] = counts.get((m[1], int(m[2])), 0) + 1
    return counts


def metrics(port):
    status, body = http_get(port, "/metrics", timeout=30)
    assert status == 200, f"/metrics answered {status}"
    return body.decode()


def lost_total(port):
    m = LOST.search(metrics(port))
    assert m, "no leakwatch_lost_total on /metrics"
    return int(m[1])


def report(port):
    status, body = http_get(port, "/report.json", timeout=30)
    assert status == 200, f"/report.json answered {status}"
    return json.loads(body)


def report_site(doc, site):
    for s in doc["sites"]:
        if (s["file"], s["line"]) == site:
            return s
    return None


def stats_pids(server):
    """{worker id: pid} for the workers uWSGI's stats server lists as running."""
    return {w["id"]: w["pid"] for w in server.stats_json()["workers"] if w["pid"] > 0}


def worker_pids(master):
    """The master's children that are alive (not zombies), from /proc: its workers."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if int(ppid) == master and state not in "ZX":
            pids.add(int(entry))
    return pids


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def drive(server, n):
    for _ in range(n):
        server.get("/", timeout=30)


def timed_get(server, path, timeout=30):
    t = time.monotonic()
    status, body = server.get(path, timeout=timeout)
    return status, body, time.monotonic() - t


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def spread(values):
    """min / median / max of latencies in seconds, as text."""
    if not values:
        return "none"
    return (f"min {ms(min(values))}, median {ms(statistics.median(values))}, "
            f"max {ms(max(values))} (n={len(values)})")


# ---- load --------------------------------------------------------------------

class Wrk:
    """wrk against the app's http-socket for a fixed time, in its own process
    group (stopped through that group only)."""

    def __init__(self, port, seconds, threads=2, connections=8):
        self.proc = subprocess.Popen(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
             "--timeout", "5s", f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)

    def wait(self, timeout):
        out, _ = self.proc.communicate(timeout=timeout)
        return self.parse(out)

    @staticmethod
    def parse(out):
        # uWSGI's http-socket closes each connection after its answer, which
        # wrk counts as a read error: "read" errors are expected, one a request
        m = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                           out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {"requests": int(m[1]) if m else 0,
                "connect_errors": int(errors[1]) if errors else 0,
                "timeouts": int(errors[4]) if errors else 0,
                "non_2xx": int(non2xx[1]) if non2xx else 0}

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.communicate(timeout=10)


# ---- a storm of clients --------------------------------------------------------

def accept_queue(port):
    """Connections waiting in a loopback listener's accept queue (its rx_queue
    in /proc/net/tcp, where listening sockets come first)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] != "0A":
                break
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no listener on port {port}")


def storm(ports, total, batch, idlers_every=2000, slow_every=50, garbage_every=7, idle=0.1):
    """Opens `total` connections to `ports` (connection k to ports[k % n]),
    `batch` at a time, non-blocking. Kinds, by k:
      - an idler (k % idlers_every < n, one per port): sends one byte, then
        idles, held open until the storm ends (slowloris);
      - slow ((k // n) % slow_every == 0): sends one byte, idles `idle` s, goes;
      - garbage ((k // n) % garbage_every == 0): 64 random bytes, stays until
        its batch ends;
      - plain, the rest: connects and closes at once.
    Paces itself to the listeners, which serve one connection at a time: a
    batch starts when their accept queues are empty (a connect that finds a
    queue full waits on a SYN retransmit, 1 s, 3 s ...). Returns (counts,
    idlers)."""
    counts = {"connected": 0, "failed": 0, "timeout": 0, "idler": 0, "slow": 0, "garbage": 0,
              "plain": 0}
    rnd = random.Random(7)
    idlers = []
    n = 0
    while n < total:
        wait_until(lambda: max(accept_queue(p) for p in ports) == 0, 60,
                   f"the listeners to drain their backlog (after {n} connections)")
        socks, slow = [], []
        sel = selectors.DefaultSelector()
        for k in range(n, min(n + batch, total)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", ports[k % len(ports)]))
            kind = ("idler" if k % idlers_every < len(ports) else
                    "slow" if (k // len(ports)) % slow_every == 0 else
                    "garbage" if (k // len(ports)) % garbage_every == 0 else "plain")
            sel.register(s, selectors.EVENT_WRITE, (kind, ports[k % len(ports)]))
            socks.append(s)
        n += len(socks)
        pending = len(socks)
        end = time.monotonic() + 10
        while pending and time.monotonic() < end:
            for key, _ in sel.select(0.01):
                s, (kind, port) = key.fileobj, key.data
                sel.unregister(s)
                pending -= 1
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    counts["failed"] += 1
                    continue
                counts["connected"] += 1
                counts[kind] += 1
                try:
                    if kind in ("idler", "slow"):
                        s.send(b"G")
                    elif kind == "garbage":
                        s.send(bytes(rnd.getrandbits(8) for _ in range(64)))
                except OSError:
                    pass
                if kind == "idler":
                    idlers.append((s, port, time.monotonic()))
                elif kind == "slow":
                    slow.append(s)
                elif kind == "plain":
                    s.close()
        counts["timeout"] += pending
        sel.close()
        if slow:
            time.sleep(idle)  # the slow clients' idle time: part of the load, not a wait
        for s in socks:
            if not any(s is i[0] for i in idlers):
                s.close()
    return counts, idlers


def read_to_eof(sock, timeout):
    """Everything the server sent until it closed: (bytes, closed by the server)."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                return b"".join(chunks), True
            chunks.append(got)
    except ConnectionResetError:
        return b"".join(chunks), True
    except socket.timeout:
        return b"".join(chunks), False
    finally:
        sock.close()


class PlainServer(Server):
    """The same uWSGI without leakwatch: the reference for a latency figure."""

    def command(self):
        cmd = super().command()
        at = cmd.index(PLUGIN)
        return cmd[:at - 1] + cmd[at + 1:]


# ---- the drills ----------------------------------------------------------------

class DrillTest(UwsgiTestCase):

    def setUp(self):
        self.started = time.monotonic()

    def tearDown(self):
        print(f"\nDRILL {self._testMethodName}: took {time.monotonic() - self.started:.1f} s",
              flush=True)

    def wrk(self, port, seconds, **kw):
        w = Wrk(port, seconds, **kw)
        self.addCleanup(w.stop)
        return w

    def leaking_server(self, extra=(), summary=0):
        http = free_port()
        server = self.server(LEAK_APP, processes=WORKERS, summary=summary,
                             args=LEAK_ARGS + ["--leakwatch-http", f":{http}"] + list(extra))
        return server, http

    def assert_state_consistent(self, server, http, what):
        """Waits until /report.json lists exactly the live workers: the pids
        uWSGI's stats server shows and /proc says are the master's living
        children, one per worker id. Returns {id: pid}."""
        master = server.proc.pid

        def consistent():
            live = worker_pids(master)
            stats = stats_pids(server)
            rep = {w["id"]: w["pid"] for w in report(http)["workers"]}
            if (len(live) == WORKERS and rep == stats and set(rep.values()) == live
                    and sorted(rep) == list(range(1, WORKERS + 1))):
                return rep
            return None
        return wait_until(consistent, 30, f"report.json workers == live workers ({what})")

    def assert_respawned_worker_tracked(self, server, http, first_pids):
        """A worker whose pid is new serves requests, and leakwatch tracks it:
        its tracked bytes are above 0 and its share of the leaking site grows
        from one report to the next while its pid stays the same."""
        site = leak_site()

        def tracked():
            doc = report(http)
            before = {w["id"]: w for w in doc["workers"]}
            share_before = report_site(doc, site)
            drive(server, 40)
            time.sleep(1.1)  # tracked_bytes is refreshed once a second; the poll's pace
            doc = report(http)
            share_after = report_site(doc, site)
            for w in doc["workers"]:
                was = before.get(w["id"])
                if not was or w["pid"] in first_pids or was["pid"] != w["pid"]:
                    continue
                key = str(w["id"])
                grew = (share_before and share_after and
                        share_after["per_worker_bytes"].get(key, 0) >
                        share_before["per_worker_bytes"].get(key, 0))
                if w["requests"] > was["requests"] and w["tracked_bytes"] > 0 and grew:
                    return dict(w, leak_share=share_after["per_worker_bytes"][key])
            return None
        return wait_until(tracked, 60, "a respawned worker with requests, tracked bytes and a "
                                       "growing share of the leak")

    # ---- 1. SIGKILL a random worker every second under load -------------------

    KILL_SECONDS = 30

    def kill_drill(self, label, extra, connections):
        # GIVEN 4 workers of an app leaking 4 KiB a request, threshold 512k,
        # --leakwatch-http, and wrk driving the app
        server, http = self.leaking_server(extra)
        master = server.proc.pid
        first_pids = worker_pids(master)
        self.assertEqual(len(first_pids), WORKERS)
        wrk = self.wrk(server.port, self.KILL_SECONDS + 3, connections=connections)
        # WHEN a random live worker is SIGKILLed every second for 30 s
        rnd = random.Random()
        kills, lost_seen, app_latency = [], [], []
        mark = None
        start = time.monotonic()
        for i in range(self.KILL_SECONDS):
            pause = start + i - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # the drill's rhythm, not a wait for a condition
            live = sorted(worker_pids(master))
            if live:
                victim = rnd.choice(live)
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)
                except ProcessLookupError:
                    pass
            if len(kills) == 10 and mark is None:
                mark = len(server.log().splitlines())
            # THEN after every kill nothing is lost and the app still answers
            lost_seen.append(lost_total(http))
            self.assertEqual(lost_seen[-1], 0, f"leakwatch_lost_total after kill {len(kills)}")
            status, _, took = timed_get(server, "/")
            self.assertEqual(status, 200, f"the app after kill {len(kills)}")
            app_latency.append(took)
        load = wrk.wait(30)
        # THEN uWSGI served throughout: the master lives, wrk got only 2xx
        self.assertIsNone(server.proc.poll(), "the master died")
        self.assertGreaterEqual(len(kills), self.KILL_SECONDS - 2)
        self.assertGreater(load["requests"], 1000, load)
        self.assertEqual(load["non_2xx"], 0, load)
        # AND the master's state is consistent: the report's workers are the
        # live workers, pid for pid (no dead pid left behind)
        live = self.assert_state_consistent(server, http, "after the kills")
        self.assertEqual(lost_total(http), 0)
        # AND a respawned worker is tracked again
        tracked = self.assert_respawned_worker_tracked(server, http, first_pids)
        # AND the leak is still reported while workers die: a LEAK line naming
        # drill_leak.py's leak line after the 10th kill (the alert repeats each
        # time the site's growth doubles, and workers' departures do not reset it)
        lines = server.log().splitlines()
        before_mark = leak_alerts(lines[:mark])
        after_mark = wait_until(lambda: leak_alerts(server.log().splitlines()[mark:]), 30,
                                "a LEAK line for drill_leak.py after the 10th kill")
        doc = report(http)
        self.assertTrue(report_site(doc, leak_site())["alerted"])
        respawns = sum(w["respawn_count"] - 1 for w in server.stats_json()["workers"])
        print(f"\nDRILL {label}: {len(kills)} SIGKILLs in {self.KILL_SECONDS} s, {respawns} respawns; "
              f"wrk {load}; leakwatch_lost_total after each kill: {sorted(set(lost_seen))}; "
              f"app GET after each kill: {spread(app_latency)}; LEAK lines for the leak: "
              f"{len(before_mark)} before the 10th kill, {len(after_mark)} after "
              f"(last: {after_mark[-1]}); respawned worker tracked: {tracked}; "
              f"live pids at the end (report == stats == /proc): {live}", flush=True)

    def test_1_sigkill_workers_under_load(self):
        self.kill_drill("kill", [], connections=8)

    def test_1_sigkill_workers_under_load_threads(self):
        self.kill_drill("kill --threads 2", ["--threads", "2"], connections=16)

    # ---- 2. --max-requests churn ---------------------------------------------

    def test_2_max_requests_churn(self):
        # GIVEN 4 leaking workers, each recycled after 200 requests. uWSGI
        # recycles no worker younger than --min-worker-lifetime (10 s by
        # default), and sleeps 2 s when a worker is respawned within a second
        # of its last spawn ("worker respawning too fast"): with 1 s and 6 ms
        # a request (200 requests take 1.2 s), --max-requests is what ends them
        server, http = self.leaking_server(
            ["--max-requests", "200", "--min-worker-lifetime", "1", "--env", "DELAY_MS=6"],
            summary=1)
        master = server.proc.pid
        first_pids = worker_pids(master)
        # WHEN wrk drives them for 20 s
        wrk = self.wrk(server.port, 20)
        lost_seen, app_latency = [], []
        while wrk.proc.poll() is None:
            # THEN at every look, once a second: nothing lost, the app answers
            lost_seen.append(lost_total(http))
            self.assertEqual(lost_seen[-1], 0, "leakwatch_lost_total during the churn")
            status, _, took = timed_get(server, "/")
            self.assertEqual(status, 200)
            app_latency.append(took)
            time.sleep(1)  # sampling pace
        load = wrk.wait(30)
        self.assertEqual(load["non_2xx"], 0, load)
        self.assertIsNone(server.proc.poll(), "the master died")
        # AND the workers really churned: one recycle per 200 requests served,
        # dozens in all (without --min-worker-lifetime, at most one per 10 s)
        respawns = sum(w["respawn_count"] - 1 for w in server.stats_json()["workers"])
        self.assertGreaterEqual(respawns, 20, "--max-requests 200 recycled too few workers")
        # AND the master's state is consistent: the report follows the live
        # workers, and leakwatch counts the same spawns per slot as uWSGI
        live = self.assert_state_consistent(server, http, "after the churn")

        def same_spawns():
            # a STATUS line is logged once a second while requests flow; one
            # request per look keeps the workers from recycling meanwhile
            drive(server, 1)
            time.sleep(0.2)
            stats = {w["id"]: (w["pid"], w["respawn_count"])
                     for w in server.stats_json()["workers"]}
            block = server.statuses()[-1] if server.statuses() else None
            if block and block["per_worker"] and all(
                    (pw["pid"], pw["spawn"]) == stats[wid]
                    for wid, pw in block["per_worker"].items()) and len(block["per_worker"]) == 4:
                return block
            return None
        status = wait_until(same_spawns, 30, "STATUS spawns == uWSGI's respawn_count per worker")
        self.assertEqual(lost_total(http), 0)
        # AND recycled workers are tracked
        tracked = self.assert_respawned_worker_tracked(server, http, first_pids)
        # AND the leak is reported at its line
        alerts = wait_until(lambda: leak_alerts(server.log().splitlines()), 30,
                            "a LEAK line for drill_leak.py under --max-requests churn")
        print(f"\nDRILL churn: wrk {load}; {respawns} respawns (uWSGI), leakwatch STATUS "
              f"{status['respawns']} respawns; leakwatch_lost_total at each look: "
              f"{sorted(set(lost_seen))}; app GET during churn: {spread(app_latency)}; "
              f"{len(alerts)} LEAK lines, first: {alerts[0]}; tracked: {tracked}; "
              f"live pids at the end: {live}", flush=True)

    # ---- 3. graceful reload mid-run ---------------------------------------------

    RELOAD_LOAD_SECONDS = 10

    def test_3_graceful_reload_rearms_without_alert_storm(self):
        # GIVEN 4 leaking workers under wrk until the leak is announced
        server, http = self.leaking_server()
        master = server.proc.pid
        wrk = self.wrk(server.port, 120, connections=8)
        wait_until(lambda: leak_alerts(server.log().splitlines()), 60, "the first LEAK line")
        old_workers = worker_pids(master)
        before = len(leak_alerts(server.log().splitlines()))
        at_signal = len(server.log().splitlines())
        # WHEN the master gets SIGHUP (uWSGI's graceful reload: it waits for
        # the workers' requests, then execs itself in place; the harness stops
        # servers with SIGINT, and --die-on-term makes SIGTERM a shutdown)
        # while wrk keeps the leak going
        t_signal = time.monotonic()
        os.kill(master, signal.SIGHUP)

        def reloaded():
            lines = server.log().splitlines()[at_signal:]
            enabled = [i for i, l in enumerate(lines) if l.startswith("[leakwatch] enabled:")]
            respawned = any("gracefully (RE)spawned uWSGI master process" in l for l in lines)
            return at_signal + enabled[0] if enabled and respawned else None
        mark = wait_until(reloaded, 60, "the reload: leakwatch enabled again in the new master")
        new_workers = wait_until(
            lambda: (p if len(p := worker_pids(master)) == WORKERS and not p & old_workers
                     else None), 60, "4 new workers after the reload")
        reload_s = time.monotonic() - t_signal
        self.assertIsNone(server.proc.poll(), "the master died in the reload")
        # ... and the leak goes on for a while under wrk
        peak = {}
        deadline = time.monotonic() + self.RELOAD_LOAD_SECONDS
        while time.monotonic() < deadline:
            for s in report(http)["sites"]:
                key = (s["file"], s["line"])
                peak[key] = max(peak.get(key, 0), s["live_bytes"])
            time.sleep(0.5)  # sampling pace of the sites' live bytes
        wrk.stop()
        # THEN leakwatch came back armed: a new LEAK for the same site after
        # the new master's "enabled" line
        after = wait_until(lambda: leak_alerts(server.log().splitlines()[mark:]), 30,
                           "a LEAK line for drill_leak.py after the reload")
        doc = report(http)
        for s in doc["sites"]:
            key = (s["file"], s["line"])
            peak[key] = max(peak.get(key, 0), s["live_bytes"])
        served = sum(w["requests"] for w in doc["workers"])
        # AND no alert storm. A site alerts first at >= the threshold T and
        # again only when its growth has doubled since its last alert, so n
        # alerts need growth >= T * 2^(n-1): at most 1 + log2(G / T) alerts,
        # G being at most the most the site held (its peak live bytes; for
        # the leak about `served` x 4 KiB)
        counts = alerts_by_site(server.log().splitlines()[mark:])
        bounds = {site: 1 + int(math.log2(max(peak.get(site, 0), THRESHOLD) / THRESHOLD))
                  for site in counts}
        leaked = served * LEAK_SIZE
        print(f"\nDRILL reload: {before} LEAK lines before the SIGHUP; new master up with 4 new "
              f"workers {reload_s:.1f} s after it; {served} requests served after it "
              f"(~{leaked / 2**20:.1f} MiB leaked, at most "
              f"{1 + int(math.log2(max(leaked, THRESHOLD) / THRESHOLD))} alerts by that count); "
              f"LEAK lines after the reload per site (bound from peak live bytes): "
              + ", ".join(f"{os.path.basename(f)}:{l} {counts[(f, l)]} (bound {bounds[(f, l)]}, "
                          f"peak {peak.get((f, l), 0) / 2**20:.1f} MiB)" for f, l in counts)
              + f"; first after: {after[0]}", flush=True)
        self.assertIn(leak_site(), counts)
        for site, count in counts.items():
            self.assertLessEqual(count, bounds[site], f"alert storm for {site}")
        # AND the master's listener and state came back with it
        self.assertEqual(lost_total(http), 0)
        live = self.assert_state_consistent(server, http, "after the reload")
        self.assertEqual(set(live.values()), new_workers)

    # ---- 4. one request creates 50,000 distinct sites -----------------------------

    def overflow_server(self, n_sites, processes):
        http = free_port()
        # a sample rate of 64 bytes: nearly every ~100-byte object of the burst
        # is sampled (the default, threshold/256, would sample 1 in 20 of them)
        # lost_ok: the burst fills the worker's site table on purpose
        server = self.server("drill_sites.py", processes=processes, summary=1, lost_ok=True, args=[
            "--leakwatch-threshold", "512k", "--leakwatch-sample-rate", "64",
            "--leakwatch-http", f":{http}", "--env", f"N_SITES={n_sites}"])
        return server, http

    def burst(self, server):
        status, body, took = timed_get(server, "/burst", timeout=180)
        self.assertEqual(status, 200)
        pid, kept = map(int, body.split())
        return pid, kept, took

    def worker_of(self, server, pid):
        return next(i for i, p in stats_pids(server).items() if p == pid)

    def overflow_site(self, http, wid):
        """The master's site holding worker wid's overflow bucket (the worker's
        site 0, published with line -3; before that was fixed, with line 0,
        which no Python line has)."""
        def found():
            for s in report(http)["sites"]:
                if s["line"] in (0, -3) and s["per_worker_bytes"].get(str(wid), 0) > 0:
                    return s
            return None
        return wait_until(found, 30, "the overflow bucket's site in report.json")

    def test_4_overflow_burst(self):
        # GIVEN 4 workers sampling nearly every allocation, with --leakwatch-http
        server, http = self.overflow_server(50000, WORKERS)
        normal = [timed_get(server, "/")[2] for _ in range(20)]
        lost_before = lost_total(http)
        # WHEN one request creates 50,000 distinct allocation sites (generated
        # code, one line a site, each keeping a ~100-byte object), more than a
        # worker's table holds (16,384 sites, overflow included)
        pid, kept, burst_s = self.burst(server)
        self.assertEqual(kept, 50000)
        wid = self.worker_of(server, pid)
        after = []  # every request after the burst: (answered by the burst's worker, latency)

        def requests(n):
            for _ in range(n):
                status, body, took = timed_get(server, "/")
                self.assertEqual(status, 200)
                after.append((int(body.split()[0]) == pid, took))
        requests(20)

        # THEN the worker's table holds at its cap, the rest folded into its
        # "<other sites: table full>" bucket and counted as lost
        def worker_view():
            requests(4)  # deltas the full ring deferred go out after later requests
            lines = server.leakwatch_lines()
            for at in range(len(lines) - 1, -1, -1):
                m = SITES_LINE.match(lines[at])
                if m and int(m[2]) == pid and int(m[5]) == ENGINE_SITES:
                    other = [OTHER_LINE.match(l) for l in lines[at + 1:at + 5] if OTHER_LINE.match(l)]
                    return m, (float(other[0][1]) * UNITS[other[0][2]] if other else 0)
            return None
        m, other_bytes = wait_until(worker_view, 60, "the worker's SITES line at its 16,384-site cap")
        worker_lost = int(m[7])
        self.assertGreater(worker_lost, 0, "the overflow is not counted in the worker")
        self.assertGreater(other_bytes, 1 << 20, "no '<other sites: table full>' bucket")
        # AND the overflow shows in leakwatch_lost_total, as README says
        lost = wait_until(lambda: (v if (v := lost_total(http)) >= worker_lost else None), 30,
                          "leakwatch_lost_total to count the worker's overflow")

        # AND nothing of the burst went missing: the master's copy of the
        # bucket comes to equal the worker's (the ring's deferred deltas all
        # arrive; the worker logs it rounded to 0.1 MiB)
        def same_bucket():
            _, worker_bytes = worker_view()
            s = self.overflow_site(http, wid)
            return (s, worker_bytes) if abs(s["live_bytes"] - worker_bytes) <= 0.06 * 2**20 else None
        bucket, other_bytes = wait_until(same_bucket, 60, "the master's overflow bucket == the worker's")
        doc = report(http)
        tracked = {w["id"]: w for w in doc["workers"]}[wid]["tracked_bytes"]
        self.assertGreater(tracked, 50000 * 64)  # 50,000 objects of 97-160 bytes, estimated
        # AND the worker survived: same pid, alive, still serving
        self.assertEqual(stats_pids(server).get(wid), pid, "the burst's worker was replaced")
        self.assertIn(pid, worker_pids(server.proc.pid))
        self.assertEqual(server.get("/")[0], 200)
        self.assertIsNone(server.proc.poll())
        # AND the master's exports stay capped
        text = metrics(http)
        series = len(SITE_SERIES.findall(text))
        self.assertLessEqual(series, 50)
        self.assertLessEqual(len(doc["sites"]), 100)
        # the same burst without leakwatch, for reference
        plain = PlainServer("drill_sites.py", processes=1, stats=False, summary=0,
                            args=["--env", "N_SITES=50000"])
        self._servers.append(plain)
        self.addCleanup(plain.close)
        plain.start()
        plain_s = timed_get(plain, "/burst", timeout=180)[2]
        print(f"\nDRILL overflow: /burst (50,000 sites in one request) took {ms(burst_s)} with "
              f"leakwatch (sample rate 64 B) vs {ms(plain_s)} without it; normal requests "
              f"before: {spread(normal)}; requests after it: on its worker "
              f"{spread([t for own, t in after if own])} (first "
              f"{', '.join([ms(t) for own, t in after if own][:5]) or '-'}), on the others "
              f"{spread([t for own, t in after if not own])}; worker {wid} "
              f"pid {pid} kept its pid: {m[5]} sites (cap {ENGINE_SITES}), {m[7]} lost in the "
              f"worker, bucket {other_bytes / 2**20:.1f} MiB (master: "
              f"{bucket['live_bytes'] / 2**20:.2f} MiB as '{bucket['file']}':{bucket['line']}), "
              f"tracked {tracked / 2**20:.1f} MiB; leakwatch_lost_total {lost_before} -> {lost}; "
              f"{series} site series on /metrics, {len(doc['sites'])} sites in report.json",
              flush=True)

    def test_4_overflow_bucket_is_not_named_no_python_frame(self):
        # GIVEN a worker whose site table overflowed (20,000 sites in one request)
        server, http = self.overflow_server(20000, 2)
        pid, _, _ = self.burst(server)
        wid = self.worker_of(server, pid)
        drive(server, 20)
        # WHEN the master reports the bucket the excess went to
        bucket = self.overflow_site(http, wid)
        # THEN it is named as what it is: README, "Sites past a cap go to one
        # 'other sites' site"; "<no Python frame>" means "allocations made from
        # C with no Python code running", which these are not
        self.assertNotEqual(bucket["file"], "<no Python frame>",
                            f"the overflow bucket ({bucket['live_bytes']} bytes of Python-line "
                            f"allocations) is reported as {bucket['file']}:{bucket['line']}")
        self.assertIn("other sites", bucket["file"])

    def test_4_lost_total_survives_the_overflowing_worker(self):
        # GIVEN a worker whose site table overflowed: leakwatch_lost_total > 0
        server, http = self.overflow_server(20000, 2)
        pid, _, _ = self.burst(server)
        wid = self.worker_of(server, pid)

        def counted():
            drive(server, 4)
            return lost_total(http) or None
        lost = wait_until(counted, 30, "leakwatch_lost_total above 0")
        # WHEN that worker dies (SIGKILL; a --reload-on-rss or --max-requests
        # recycle ends it the same way) and is respawned
        os.kill(pid, signal.SIGKILL)

        def respawned():
            drive(server, 4)
            w = {w["id"]: w for w in report(http)["workers"]}.get(wid)
            return w if w and w["pid"] != pid and w["pid"] in worker_pids(server.proc.pid) \
                else None
        wait_until(respawned, 30, "the worker respawned and in the report")
        time.sleep(1.5)  # /metrics values are refreshed once a second
        after = lost_total(http)
        # THEN the counter did not go down: leakwatch_lost_total is a counter
        # (TYPE counter, "must stay 0"), and the samples lost are still lost
        self.assertGreaterEqual(after, lost, f"leakwatch_lost_total went from {lost} to {after} "
                                             f"when the worker that lost them was replaced")

    # ---- 5. 10,000 bad clients on the master's listeners ---------------------------

    STORM_CONNECTIONS = 10000

    def test_5_listener_storm(self):
        # GIVEN both listeners and a leaking app with 4 workers
        http, rep_port = free_port(), free_port()
        server = self.server(LEAK_APP, processes=WORKERS, summary=0, args=LEAK_ARGS + [
            "--leakwatch-http", f":{http}", "--leakwatch-report", f":{rep_port}"])
        master = server.proc.pid
        def leaked():  # a report with an alert in it: the documents at their usual size
            drive(server, 50)
            return leak_alerts(server.log().splitlines())
        wait_until(leaked, 60, "a LEAK line")
        for path in ("/metrics", "/report.json", "/"):  # each renderer once: warm
            self.assertEqual(http_get(http, path, timeout=30)[0], 200)
        fds_before, rss_before = fd_count(master), vm_rss(master)
        # WHEN 10,000 connections hit them, 32 at a time: idlers, slow
        # clients, garbage, connect-and-close; while a client uses the app and
        # a probe scrapes /metrics
        stop = threading.Event()
        app = {"ok": 0, "failed": 0, "latency": []}
        probe = {"latency": [], "failed": 0, "fds": [], "rss": []}

        def use_app():
            while not stop.is_set():
                try:
                    status, _, took = timed_get(server, "/", timeout=10)
                    app["ok" if status == 200 else "failed"] += 1
                    app["latency"].append(took)
                except OSError:
                    app["failed"] += 1
                stop.wait(0.05)

        def scrape():
            while not stop.is_set():
                probe["fds"].append(fd_count(master))
                probe["rss"].append(vm_rss(master))
                t = time.monotonic()
                try:
                    status, _ = http_get(http, "/metrics", timeout=30)
                    if status == 200:
                        probe["latency"].append(time.monotonic() - t)
                    else:
                        probe["failed"] += 1
                except OSError:
                    probe["failed"] += 1
                stop.wait(1)
        threads = [threading.Thread(target=f, daemon=True) for f in (use_app, scrape)]
        for t in threads:
            t.start()
        self.addCleanup(stop.set)
        t0 = time.monotonic()
        counts, idlers = storm([http, rep_port], total=self.STORM_CONNECTIONS, batch=32)
        storm_s = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(40)
        # THEN the app kept answering throughout
        self.assertEqual(app["failed"], 0, app)
        self.assertGreater(app["ok"], 0)
        self.assertEqual(counts["connected"], self.STORM_CONNECTIONS, counts)
        # AND the idlers were cut off by the listeners, not left holding them:
        # the HTTP one closed on them without an answer (2 s read timeout),
        # the report one wrote its document and closed
        cut = {http: 0, rep_port: 0}
        for sock, port, _ in idlers:
            data, closed = read_to_eof(sock, 30)
            self.assertTrue(closed, f"an idler on port {port} still held open")
            if port == rep_port:
                self.assertIn("workers", json.loads(data))
            else:
                self.assertEqual(data, b"")
            cut[port] += 1
        self.assertEqual(sorted(cut.values()), [5, 5])
        # AND once the storm is over the master holds its starting fds (+-2)
        # and no more than 2 MiB of RSS more, and both listeners answer
        wait_until(lambda: abs(fd_count(master) - fds_before) <= 2, 30,
                   f"master fds back near {fds_before}")
        fds_after, rss_after = fd_count(master), vm_rss(master)
        t = time.monotonic()
        status = http_get(http, "/metrics", timeout=30)[0]
        metrics_after = time.monotonic() - t
        self.assertEqual(status, 200)
        doc = report(http)
        self.assertEqual(sorted(w["id"] for w in doc["workers"]), [1, 2, 3, 4])
        self.assertTrue(report_site(doc, leak_site()))
        with socket.create_connection(("127.0.0.1", rep_port), timeout=30) as c:
            data, closed = read_to_eof(c, 30)
        self.assertTrue(closed)
        self.assertIn("sites", json.loads(data))
        self.assertEqual(lost_total(http), 0)
        self.assertIsNone(server.proc.poll())
        print(f"\nDRILL storm: {self.STORM_CONNECTIONS} connections in {storm_s:.1f} s: {counts}; "
              f"idlers cut off {cut}; app during the storm: {app['ok']} ok, {app['failed']} "
              f"failed, {spread(app['latency'])}; /metrics during the storm: "
              f"{spread(probe['latency'])}, {probe['failed']} failed; /metrics after: "
              f"{ms(metrics_after)}; master fds {fds_before} -> peak "
              f"{max(probe['fds'], default=fds_before)} -> {fds_after} (tolerance +-2); VmRSS "
              f"{rss_before // 1024} -> peak {max(probe['rss'], default=rss_before) // 1024} -> "
              f"{rss_after // 1024} KiB (tolerance +2048 KiB)", flush=True)
        self.assertLessEqual(abs(fds_after - fds_before), 2)
        if not PRELOAD:  # under ASan, RSS holds its quarantine and allocator caches
            self.assertLessEqual(rss_after - rss_before, 2 << 20)


if __name__ == "__main__":
    unittest.main()

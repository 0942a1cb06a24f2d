"""Fault drills under load: workers SIGKILLed while wrk drives a leaking app,
--max-requests churn, a graceful reload mid-run, one request creating 50,000
allocation sites, and a storm of bad clients on the master's listeners.
Each drill prints its duration and what it measured ("DRILL ...")."""
import json
import math
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import APPS, UwsgiTestCase, free_port, http_get, leak_line, wait_until

LEAK = re.compile(r"^\[leakwatch\] LEAK (.+):(\d+) in (.+)\(\): \+([\d.]+) (B|KiB|MiB|GiB) "
                  r"over (\d+) requests")
LOST = re.compile(r"^leakwatch_lost_total (\d+)$", re.M)
SITE_SERIES = re.compile(r"^leakwatch_site_live_bytes\{", re.M)
LEAK_ARGS = ["--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384"]
LEAK_APP = os.path.join(APPS, "leak_bytes.py")


def leak_alerts(lines, app=LEAK_APP, line=None):
    """LEAK lines (from a list of log lines) naming app:line."""
    line = leak_line(os.path.basename(app)) if line is None else line
    return [l for l in lines if (m := LEAK.match(l)) and m[1] == app and int(m[2]) == line]


def metrics(port):
    status, body = http_get(port, "/metrics", timeout=15)
    assert status == 200, status
    return body.decode()


def lost_total(port):
    m = LOST.search(metrics(port))
    assert m, "no leakwatch_lost_total on /metrics"
    return int(m[1])


def report(port):
    status, body = http_get(port, "/report.json", timeout=15)
    assert status == 200, status
    return json.loads(body)


def live_worker_pids(server):
    """{worker id: pid} of the workers uWSGI's stats server says are alive."""
    return {w["id"]: w["pid"] for w in server.stats_json()["workers"] if w["pid"] > 0}


def report_worker_pids(port):
    return {w["id"]: w["pid"] for w in report(port)["workers"]}


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    return int(fields["VmRSS"].split()[0]) * 1024


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Wrk:
    """wrk against the app's http-socket for a fixed duration, in its own
    process group (stopped by that group only)."""

    def __init__(self, port, seconds, threads=2, connections=8):
        self.proc = subprocess.Popen(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
             "--timeout", "5s", f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)

    def wait(self, timeout):
        out, _ = self.proc.communicate(timeout=timeout)
        m = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {"requests": int(m[1]) if m else None, "socket_errors": errors[1] if errors else "none",
                "non_2xx": int(non2xx[1]) if non2xx else 0}

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)


def drive(server, n):
    for _ in range(n):
        server.get("/")


def accept_queue(port):
    """Connections waiting in a loopback listener's accept queue (its rx_queue)."""
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no listener on port {port}")


def storm(ports, total, batch, slow_every=50, garbage_every=7, idle=0.1, deadline=5.0):
    """Opens `total` connections, `batch` at a time spread over ports, non-
    blocking. Connection k goes to ports[k % len(ports)]; pairs of connections
    (k // 2) that are a multiple of slow_every send one byte and idle `idle`
    s (slowloris, one on each port), a multiple of garbage_every send 64
    random bytes and stay until the batch ends, the rest connect and close.
    Returns counts."""
    counts = {"connected": 0, "failed": 0, "timeout": 0, "slow": 0, "garbage": 0, "plain": 0}
    rnd = random.Random(7)
    n = 0
    while n < total:
        # pace to the listeners: each takes one connection at a time with a
        # backlog of 16, and a connect that finds the backlog full waits on a
        # SYN retransmit (1 s, then 3 s ...)
        wait_until(lambda: max(accept_queue(p) for p in ports) == 0, 30,
                   f"the listeners to drain their backlog (after {n} connections)")
        socks, slow = [], []
        sel = selectors.DefaultSelector()
        for i in range(min(batch, total - n)):
            k = n + i
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", ports[k % len(ports)]))
            kind = ("slow" if (k // 2) % slow_every == 0 else
                    "garbage" if (k // 2) % garbage_every == 0 else "plain")
            socks.append(s)
            sel.register(s, selectors.EVENT_WRITE, kind)
        n += len(socks)
        pending = len(socks)
        end = time.monotonic() + deadline
        while pending and time.monotonic() < end:
            for key, _ in sel.select(0.01):
                s, kind = key.fileobj, key.data
                sel.unregister(s)
                pending -= 1
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    counts["failed"] += 1
                    continue
                counts["connected"] += 1
                counts[kind] += 1
                try:
                    if kind == "slow":
                        s.send(b"G")
                        slow.append(s)
                    elif kind == "garbage":
                        s.send(bytes(rnd.getrandbits(8) for _ in range(64)))
                except OSError:
                    pass
                if kind == "plain":
                    s.close()
        counts["timeout"] += pending
        sel.close()
        if slow:
            time.sleep(idle)  # the slow clients' idle time, then they go
        for s in socks:
            s.close()
    return counts


class DrillTest(UwsgiTestCase):

    def setUp(self):
        self.started = time.monotonic()

    def tearDown(self):
        print(f"\nDRILL {self._testMethodName}: {time.monotonic() - self.started:.1f} s", flush=True)

    def wrk(self, port, seconds, **kw):
        w = Wrk(port, seconds, **kw)
        self.addCleanup(w.stop)
        return w

    def leaking_server(self, extra=(), processes=4, summary=0):
        http = free_port()
        server = self.server("leak_bytes.py", processes=processes, summary=summary,
                             args=LEAK_ARGS + ["--leakwatch-http", f":{http}"] + list(extra))
        return server, http

    # ---- 1. SIGKILL a random worker every second under load ------------------

    def kill_drill(self, extra):
        # GIVEN 4 workers of a 16 KiB/request leaking app, threshold 512k,
        # --leakwatch-http, and wrk driving the app
        server, http = self.leaking_server(extra)
        first_pids = set(live_worker_pids(server).values())
        wrk = self.wrk(server.port, 32)
        # WHEN a random live worker is SIGKILLed every second for 30 s
        kills, lost_after = 0, []
        rnd = random.Random()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pids = list(live_worker_pids(server).values())
            if pids:
                victim = rnd.choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            # THEN after every kill nothing was lost
            lost_after.append(lost_total(http))
            self.assertEqual(lost_after[-1], 0, f"leakwatch_lost_total after kill {kills}")
            time.sleep(1)  # the drill's pace, not a wait for a condition
        load = wrk.wait(30)
        # THEN uWSGI still serves
        self.assertIsNone(server.proc.poll(), "the master died")
        self.assertEqual(wait_until(lambda: server.get("/")[0] == 200 or None, 20,
                                    "uWSGI to serve after the drill"), True)
        # AND the report's workers are the live workers, pid for pid
        def same_pids():
            live = live_worker_pids(server)
            return live if len(live) == 4 and live == report_worker_pids(http) else None
        live = wait_until(same_pids, 30, "report.json workers == stats server workers")
        # AND a respawned worker (a pid not seen at the start) gets requests and is tracked
        # (the report's request count is the worker slot's, so what counts is
        # that it moves while the new pid holds the slot)
        def new_worker_tracked():
            before = {w["id"]: w for w in report(http)["workers"]}
            drive(server, 20)
            for w in report(http)["workers"]:
                was = before.get(w["id"])
                if (w["pid"] not in first_pids and w["pid"] == live.get(w["id"]) and was
                        and was["pid"] == w["pid"] and w["requests"] > was["requests"]
                        and w["tracked_bytes"] > 0):
                    return w
            return None
        tracked = wait_until(new_worker_tracked, 30, "a respawned worker with requests, tracked")
        # AND the leak was reported at its line
        def alerted():
            drive(server, 20)
            return leak_alerts(server.log().splitlines())
        alerts = wait_until(alerted, 60, "a LEAK line naming leak_bytes.py's leak line")
        print(f"\nDRILL kill{''.join(extra)}: {kills} kills, wrk {load}, lost after each kill "
              f"{sorted(set(lost_after))}, {len(alerts)} LEAK lines, respawned worker {tracked}, "
              f"final live pids {live}", flush=True)

    def test_1_sigkill_workers_under_load(self):
        self.kill_drill([])

    def test_1_sigkill_workers_under_load_threads(self):
        self.kill_drill(["--threads", "2"])

    # ---- 2. --max-requests churn ------------------------------------------------

    def test_2_max_requests_churn(self):
        # GIVEN 4 leaking workers recycled every 200 requests
        server, http = self.leaking_server(["--max-requests", "200"])
        first_pids = set(live_worker_pids(server).values())
        # WHEN wrk drives them for 20 s
        wrk = self.wrk(server.port, 20)
        lost_seen = []
        while wrk.proc.poll() is None:
            lost_seen.append(lost_total(http))
            time.sleep(1)  # sampling pace
        load = wrk.wait(30)
        # THEN nothing was lost, at any look
        self.assertEqual(set(lost_seen + [lost_total(http)]), {0})
        # AND workers were recycled, and the report follows the live ones, tracked
        def followed():
            drive(server, 8)
            live = live_worker_pids(server)
            rep = {w["id"]: w for w in report(http)["workers"]}
            if len(live) != 4 or {i: w["pid"] for i, w in rep.items()} != live:
                return None
            busy = [w for w in rep.values() if w["requests"] > 0]
            return rep if busy and all(w["tracked_bytes"] > 0 for w in busy) else None
        rep = wait_until(followed, 30, "report.json to follow the live, tracked workers")
        respawns = sum(w["respawn_count"] - 1 for w in server.stats_json()["workers"])
        self.assertGreater(respawns, 0, "no worker was recycled by --max-requests")
        self.assertNotEqual(set(w["pid"] for w in rep.values()), first_pids)
        # AND the leak was reported at its line
        alerts = leak_alerts(server.log().splitlines())
        self.assertTrue(alerts, "no LEAK line for leak_bytes.py under --max-requests churn")
        print(f"\nDRILL churn: wrk {load}, {respawns} respawns, lost {sorted(set(lost_seen))}, "
              f"{len(alerts)} LEAK lines: {alerts[:1]}", flush=True)

    # ---- 3. graceful reload mid-run ------------------------------------------

    def test_3_graceful_reload_rearms(self):
        # GIVEN 4 leaking workers under wrk until the leak is announced
        server, http = self.leaking_server()
        wrk = self.wrk(server.port, 60)
        wait_until(lambda: leak_alerts(server.log().splitlines()), 40, "the first LEAK line")
        wrk.stop()
        before_alerts = len(leak_alerts(server.log().splitlines()))
        mark = len(server.log().splitlines())
        # WHEN the master gets SIGHUP (graceful reload) and the leak continues
        os.kill(server.proc.pid, signal.SIGHUP)
        wait_until(lambda: "gracefully (RE)spawned uWSGI master process" in
                   "\n".join(server.log().splitlines()[mark:]), 20, "uWSGI's reload message")
        wait_until(lambda: (server.proc.poll() is None and
                            "[leakwatch] enabled:" in "\n".join(server.log().splitlines()[mark:])),
                   30, "leakwatch enabled again after the reload")
        wait_until(lambda: server.get("/")[0] == 200, 30, "the app to answer after the reload")
        requests_before = sum(w["requests"] for w in server.stats_json()["workers"])
        wrk2 = self.wrk(server.port, 30)
        # THEN a new LEAK line for the same site appears after the reload
        wait_until(lambda: leak_alerts(server.log().splitlines()[mark:]), 40,
                   "a LEAK line after the reload")
        wrk2.stop()  # the leak stops growing here: the bound below counts what was served
        load = "stopped after the first LEAK line after the reload"
        self.assertIsNone(server.proc.poll())
        after = leak_alerts(server.log().splitlines()[mark:])
        served = sum(w["requests"] for w in server.stats_json()["workers"]) - requests_before
        # AND it repeats only when the growth doubled: the first alert comes at
        # >= the threshold (512 KiB), each next at >= twice the last, and at
        # most `served` x 16 KiB has leaked since the reload, so at most
        # 1 + log2(leaked / 512 KiB) alerts
        leaked = max(served, 1) * 16384
        bound = 1 + int(math.log2(max(leaked / (512 * 1024), 1)))
        print(f"\nDRILL reload: {before_alerts} LEAK lines before, {len(after)} after "
              f"(bound {bound} for {served} requests, {leaked / 2**20:.1f} MiB leaked); "
              f"wrk after reload {load}; first after: {after[0]}", flush=True)
        self.assertLessEqual(len(after), bound)
        self.assertLessEqual(len(after), 12)
        # AND --leakwatch-http still answers after the reload
        try:
            status = http_get(http, "/metrics", timeout=5)[0]
        except OSError as e:
            status = repr(e)
        self.assertEqual(status, 200, "--leakwatch-http /metrics after the SIGHUP reload")

    # ---- 4. one request creates 50,000 distinct sites ------------------------

    def test_4_overflow_burst(self):
        # GIVEN 4 workers, a sample rate of 64 bytes (so nearly every one of the
        # burst's ~100-byte objects is sampled) and --leakwatch-http
        http = free_port()
        server = self.server("drill_sites.py", processes=4, summary=1, args=[
            "--leakwatch-threshold", "512k", "--leakwatch-sample-rate", "64",
            "--leakwatch-http", f":{http}"])
        normal = []
        for _ in range(5):
            t = time.monotonic()
            status, body = server.get("/")
            normal.append(time.monotonic() - t)
            self.assertEqual(status, 200)
        lost_before = lost_total(http)
        # WHEN one request creates 50,000 distinct allocation sites (50 generated
        # code objects of 1,000 lines; the worker's table holds LW_ENGINE_SITES
        # = 16384 sites, overflow site included)
        t = time.monotonic()
        status, body = server.get("/burst", timeout=120)
        burst_s = time.monotonic() - t
        self.assertEqual(status, 200)
        pid, kept = map(int, body.split())
        self.assertEqual(kept, 50000)
        wid = next(i for i, p in live_worker_pids(server).items() if p == pid)
        # the worker's deltas reach the master over its next requests (a ring
        # that is full keeps them coalescing in the worker)
        def settled():
            drive(server, 8)
            return lost_total(http) > 0
        wait_until(settled, 60, "the burst's overflow to be counted in leakwatch_lost_total")
        for _ in range(3):
            drive(server, 8)
        # THEN the worker survived (same pid, still serving)
        self.assertEqual(live_worker_pids(server).get(wid), pid, "the burst's worker changed")
        os.kill(pid, 0)
        self.assertEqual(server.get("/")[0], 200)
        # AND the overflow is counted as lost (README: samples that could not be
        # kept, tables full), the exports stay capped, the master answers
        text = metrics(http)
        lost = int(LOST.search(text)[1])
        self.assertGreater(lost, 0)
        series = len(SITE_SERIES.findall(text))
        self.assertLessEqual(series, 50)
        rep = report(http)
        self.assertLessEqual(len(rep["sites"]), 100)
        rep_w = {w["id"]: w for w in rep["workers"]}
        other = [l for l in server.leakwatch_lines() if "<other sites: table full>" in l]
        self.assertIsNone(server.proc.poll())
        print(f"\nDRILL overflow: /burst {burst_s * 1000:.0f} ms vs normal median "
              f"{sorted(normal)[2] * 1000:.1f} ms; lost {lost_before} -> {lost}; "
              f"{series} site series on /metrics, {len(rep['sites'])} sites in report.json; "
              f"worker {wid} pid {pid} tracked {rep_w[wid]['tracked_bytes']} B; "
              f"'<other sites: table full>' lines: {other[-1:] or 'none'}", flush=True)

    # ---- 5. a storm of bad clients on the master's listeners -----------------

    def test_5_listener_storm(self):
        # GIVEN both listeners and a leaking app with 4 workers
        http, rep_port = free_port(), free_port()
        server = self.server("leak_bytes.py", processes=4, summary=0, args=LEAK_ARGS + [
            "--leakwatch-http", f":{http}", "--leakwatch-report", f":{rep_port}"])
        master = server.proc.pid
        drive(server, 100)
        metrics(http)
        report(http)
        fds_before, rss_before = fd_count(master), proc_status(master)
        # WHEN 10,000 connections hit them, 32 at a time (each listener's
        # backlog is 16: a larger batch waits on SYN retransmits, seconds each),
        # while a client uses the app
        stop = threading.Event()
        app = {"ok": 0, "failed": 0}
        def use_app():
            while not stop.is_set():
                try:
                    app["ok" if server.get("/", timeout=10)[0] == 200 else "failed"] += 1
                except OSError:
                    app["failed"] += 1
                stop.wait(0.05)
        user = threading.Thread(target=use_app, daemon=True)
        user.start()
        self.addCleanup(stop.set)
        t = time.monotonic()
        counts = storm([http, rep_port], total=10000, batch=32)
        storm_s = time.monotonic() - t
        stop.set()
        user.join(20)
        # THEN the app kept answering
        self.assertEqual(app["failed"], 0, app)
        self.assertGreater(app["ok"], 0)
        # AND once the listeners drained, the master holds no more fds (+-2)
        # and no more memory (+2 MiB) than before, and both answer
        wait_until(lambda: abs(fd_count(master) - fds_before) <= 2, 30,
                   f"master fds back near {fds_before}")
        status, _ = http_get(http, "/metrics", timeout=15)
        self.assertEqual(status, 200)
        doc = report(http)
        self.assertEqual(len(doc["workers"]), 4)
        with socket.create_connection(("127.0.0.1", rep_port), timeout=15) as c:
            chunks = []
            while (got := c.recv(65536)):
                chunks.append(got)
        self.assertIn("workers", json.loads(b"".join(chunks)))
        fds_after, rss_after = fd_count(master), proc_status(master)
        print(f"\nDRILL storm: {storm_s:.1f} s for {counts}; app during storm {app}; "
              f"master fds {fds_before} -> {fds_after}, VmRSS {rss_before // 1024} -> "
              f"{rss_after // 1024} KiB", flush=True)
        self.assertLessEqual(abs(fds_after - fds_before), 2)
        self.assertLessEqual(rss_after - rss_before, 2 << 20)
        self.assertIsNone(server.proc.poll())


if __name__ == "__main__":
    unittest.main()

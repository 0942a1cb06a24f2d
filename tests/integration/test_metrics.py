"""leakwatch's metrics show on the stats server and reach statsd unchanged."""
import socket
import unittest

from harness import UwsgiTestCase, wait_until

NAMES = ["leakwatch.alerts", "leakwatch.suspects", "leakwatch.tracked_bytes",
         "leakwatch.samples", "leakwatch.lost"]
PER_WORKER = ["tracked_bytes", "growth_rate", "oom_eta", "malloc_free_bytes"]


def metrics(server):
    return {k: v["value"] for k, v in server.stats_json().get("metrics", {}).items()
            if k.startswith("leakwatch.")}


class MetricsTest(UwsgiTestCase):

    def test_metrics_are_registered_and_follow_a_leak(self):
        # GIVEN two workers and no option but the plugin
        server = self.server("leak_bytes.py", summary=0,
                             args=["--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384"])
        # THEN the fixed set is on the stats server from the start
        m = metrics(server)
        expected = NAMES + [f"leakwatch.worker.{w}.{k}" for w in (1, 2) for k in PER_WORKER]
        self.assertEqual(sorted(m), sorted(expected))
        # WHEN the app leaks for a while
        def leaked():
            for _ in range(20):
                server.get("/")
            m = metrics(server)
            rate = max(m["leakwatch.worker.1.growth_rate"], m["leakwatch.worker.2.growth_rate"])
            return m if m["leakwatch.alerts"] >= 1 and rate > 0 else None
        m = wait_until(leaked, 60, "leakwatch.alerts to count an alert, a growth rate")
        # THEN the counters and gauges move, and nothing was lost
        self.assertGreaterEqual(m["leakwatch.suspects"], 1)
        self.assertGreater(m["leakwatch.tracked_bytes"], 512 * 1024)
        self.assertGreater(m["leakwatch.samples"], 0)
        self.assertEqual(m["leakwatch.lost"], 0)
        self.assertEqual(m["leakwatch.tracked_bytes"],
                         m["leakwatch.worker.1.tracked_bytes"] + m["leakwatch.worker.2.tracked_bytes"])

    def test_statsd_pusher_carries_leakwatch_metrics(self):
        # GIVEN a UDP listener on loopback and uWSGI pushing to it
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.5)
        port = udp.getsockname()[1]
        server = self.server("leak_bytes.py", summary=0, args=[
            "--plugin", "stats_pusher_statsd",
            "--stats-push", f"statsd:127.0.0.1:{port},lwtest",
            "--stats-pusher-default-freq", "1"])
        for _ in range(30):
            server.get("/")
        # THEN the datagrams name leakwatch's metrics
        seen = set()
        def received():
            try:
                data = udp.recv(65536).decode(errors="replace")
            except socket.timeout:
                return None
            for line in data.splitlines():
                name = line.split(":", 1)[0]
                if name.startswith("lwtest.leakwatch."):
                    seen.add(name)
            return {"lwtest.leakwatch.tracked_bytes", "lwtest.leakwatch.alerts"} <= seen
        wait_until(received, 30, "leakwatch metrics over statsd")


if __name__ == "__main__":
    unittest.main()

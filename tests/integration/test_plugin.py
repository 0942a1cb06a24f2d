"""The plugin loads, refuses bad options, and its after-request hook counts
every request of every worker, across modes and respawns."""
import os
import signal
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import PLUGIN, PYTHON_PLUGIN, ROOT, UwsgiTestCase, run_uwsgi, wait_until

OPTIONS = ["leakwatch-threshold", "leakwatch-sample-rate", "leakwatch-frames",
           "leakwatch-gc", "leakwatch-warmup", "leakwatch-memory-limit",
           "leakwatch-report", "leakwatch-alarm", "leakwatch-ignore",
           "leakwatch-summary", "leakwatch-oom-horizon"]


def send(server, n, concurrency=1):
    def one(_):
        status, _body = server.get("/")
        return status
    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(one, range(n)))
    assert statuses == [200] * n, statuses


class LoadingTest(UwsgiTestCase):

    def test_loads_by_path_with_master(self):
        # GIVEN the plugin named by path, with a master
        server = self.server(load="path", master=True)
        # WHEN a request is served
        status, body = server.get("/")
        # THEN it is answered and leakwatch announced itself once
        self.assertEqual(status, 200)
        enabled = [l for l in server.leakwatch_lines() if "] enabled:" in l]
        self.assertEqual(len(enabled), 1)
        self.assertIn("threshold 2.0 MiB", enabled[0])

    def test_loads_by_name_from_plugins_dir_without_master(self):
        # GIVEN --plugins-dir . --plugin leakwatch and no master
        server = self.server(load="name", master=False, processes=1, summary=0, stats=False)
        # WHEN a request is served
        status, _ = server.get("/")
        # THEN it works and leakwatch says analysis needs the master
        self.assertEqual(status, 200)
        self.assertTrue(any("no master process" in l for l in server.leakwatch_lines()))

    def test_help_lists_every_option(self):
        # GIVEN the plugin WHEN --help is asked for
        rc, out = run_uwsgi(["--plugin", PLUGIN, "--help"])
        # THEN every --leakwatch-* option is documented
        self.assertEqual(rc, 0, out)
        for name in OPTIONS:
            lines = [l for l in out.splitlines() if l.strip().startswith("--" + name + " ")]
            self.assertEqual(len(lines), 1, name)
            self.assertGreater(len(lines[0].split(None, 1)[1]), 20, name)


class RefusalTest(UwsgiTestCase):
    BAD = [
        ("leakwatch-threshold", "2XB"), ("leakwatch-threshold", "-1"),
        ("leakwatch-threshold", ""), ("leakwatch-threshold", "99999999999999999999999"),
        ("leakwatch-threshold", "1.5M"), ("leakwatch-threshold", "0"),
        ("leakwatch-sample-rate", "0"), ("leakwatch-sample-rate", "fast"),
        ("leakwatch-frames", "0"), ("leakwatch-frames", "1000"),
        ("leakwatch-gc", "sometimes"), ("leakwatch-warmup", "-5"),
        ("leakwatch-memory-limit", "10k"), ("leakwatch-report", "localhost:99999"),
        ("leakwatch-report", "::1:80"), ("leakwatch-alarm", "two words"),
        ("leakwatch-ignore", ""), ("leakwatch-summary", "1h"),
        ("leakwatch-oom-horizon", "30m"), ("leakwatch-oom-horizon", "0"),
        ("leakwatch-hold-budget", "50us"), ("leakwatch-hold-budget", "0"),
        ("leakwatch-hold-budget", "11s"),
    ]

    def assert_refused(self, args, expect):
        rc, out = run_uwsgi(PYTHON_PLUGIN + ["--plugin", PLUGIN,
                             "--http-socket", "127.0.0.1:0", "--master",
                             "--processes", "2",
                             "--wsgi-file", os.path.join(ROOT, "tests/integration/apps/hello.py")]
                            + args)
        lines = [l for l in out.splitlines() if l.startswith("[leakwatch]")]
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(len(lines), 1, out)
        self.assertTrue(lines[0].startswith(expect), lines[0])
        self.assertNotIn("spawned uWSGI worker", out)
        return lines[0]

    def test_bad_values_stop_uwsgi_before_fork(self):
        for name, value in self.BAD:
            with self.subTest(option=name, value=value):
                # GIVEN a bad value WHEN uWSGI starts THEN one line names it and uWSGI exits
                line = self.assert_refused([f"--{name}", value], f'[leakwatch] --{name} "{value}":')
                self.assertIn("expected", line)

    def test_sample_interval_above_threshold_is_refused(self):
        line = self.assert_refused(["--leakwatch-threshold", "1M",
                                    "--leakwatch-sample-rate", "2M"],
                                   "[leakwatch] --leakwatch-sample-rate")
        self.assertIn("--leakwatch-threshold", line)

    def test_good_values_are_accepted(self):
        # GIVEN every option with a valid, non-default value
        server = self.server(args=[
            "--leakwatch-threshold", " 512KiB ", "--leakwatch-sample-rate", "8k",
            "--leakwatch-frames", "4", "--leakwatch-gc", "request",
            "--leakwatch-warmup", "0", "--leakwatch-memory-limit", "1G",
            "--leakwatch-alarm", "ops", "--leakwatch-ignore", "*/site-packages/*",
            "--leakwatch-ignore", "*/lib/python3*"])
        # THEN uWSGI serves and the settings line reflects them
        self.assertEqual(server.get("/")[0], 200)
        enabled = [l for l in server.leakwatch_lines() if "] enabled:" in l][0]
        for part in ("threshold 512.0 KiB", "sampling 8.0 KiB", "frames 4",
                     "gc every request", "warmup 0 requests", "memory limit 1.0 GiB",
                     "alarm ops", "2 ignore patterns"):
            self.assertIn(part, enabled)


class CountingTest(UwsgiTestCase):

    def assert_counts_match_uwsgi(self, server, total):
        # the hook's per-worker counts equal uWSGI's own per-worker counters
        block = server.wait_status(lambda b: b["requests"] == total,
                                   what=f"STATUS with {total} requests")
        ours = {wid: (w["pid"], w["requests"]) for wid, w in block["per_worker"].items()}
        theirs = {wid: v for wid, v in server.worker_requests().items() if v[0] > 0}
        self.assertEqual(ours, theirs)
        return block

    def test_prefork_counts_every_request_per_worker(self):
        # GIVEN two prefork workers
        server = self.server(processes=2)
        # WHEN 60 requests are served, 4 at a time
        send(server, 59, concurrency=4)  # plus the readiness probe
        # THEN the hook saw all 60, per worker as uWSGI counted them
        block = self.assert_counts_match_uwsgi(server, 60)
        self.assertEqual(block["workers"], 2)

    def test_lazy_apps_counts_every_request(self):
        server = self.server(processes=2, args=["--lazy-apps"])
        send(server, 39, concurrency=4)
        self.assert_counts_match_uwsgi(server, 40)

    def test_threads_count_every_request_on_every_core(self):
        # GIVEN 2 workers with 4 threads each
        server = self.server(processes=2, args=["--threads", "4"])
        self.assertTrue(any("2 workers x 4 cores" in l for l in server.leakwatch_lines()))
        # WHEN 200 requests arrive 8 at a time
        send(server, 199, concurrency=8)
        # THEN none is lost or counted twice
        self.assert_counts_match_uwsgi(server, 200)

    def test_worker_killed_and_respawned_keeps_counting(self):
        # GIVEN two workers that served 20 requests
        server = self.server(processes=2)
        send(server, 19)
        before = self.assert_counts_match_uwsgi(server, 20)
        victim = before["per_worker"][1]["pid"]
        # WHEN worker 1 is killed with SIGKILL and uWSGI respawns it
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: server.worker_requests()[1][0] not in (0, victim), 20,
                   "worker 1 to be respawned")
        send(server, 20)
        # THEN leakwatch follows the new pid, counts the respawn, loses nothing
        after = self.assert_counts_match_uwsgi(server, 40)
        self.assertNotEqual(after["per_worker"][1]["pid"], victim)
        self.assertEqual(after["per_worker"][1]["spawn"], 2)
        self.assertEqual(after["per_worker"][2]["spawn"], 1)
        self.assertEqual(after["respawns"], 1)


if __name__ == "__main__":
    unittest.main()

"""OOM foresight: the limit is found, a growing worker is announced with an
ETA and its suspects before it gets there."""
import os
import re
import tempfile
import unittest

from harness import APPS, UwsgiTestCase, leak_line, wait_until

CGROUP_ROOT = "/sys/fs/cgroup"


def own_memory_cgroup():
    """This process's memory cgroup directory and its limit file's name
    (v1 memory.limit_in_bytes on a v1 or hybrid host, else v2 memory.max)."""
    with open("/proc/self/cgroup") as f:
        lines = [l.rstrip("\n").split(":", 2) for l in f if l.count(":") >= 2]
    for _, controllers, path in lines:
        if "memory" in controllers.split(","):
            return os.path.join(CGROUP_ROOT, "memory") + path.rstrip("/"), "memory.limit_in_bytes"
    for number, controllers, path in lines:
        if number == "0" and not controllers:
            return CGROUP_ROOT + path.rstrip("/"), "memory.max"
    return None, None

OOM = re.compile(r"^\[leakwatch\] OOM worker (\d+) pid (\d+): rss .+ growing .+/min, "
                 r"limit 200\.0 MiB in ~(\d+)m(\d\d)s$")


class OomTest(UwsgiTestCase):

    def test_a_worker_nearing_its_limit_is_announced(self):
        # GIVEN a 200 MiB limit and an app leaking 256 KiB per request
        server = self.server("leak_bytes.py", summary=0, args=[
            "--leakwatch-memory-limit", "200M", "--env", "LEAK_SIZE=262144"])
        self.assertTrue(any("memory limit 200.0 MiB (--leakwatch-memory-limit)" in l
                            for l in server.leakwatch_lines()))
        # WHEN it keeps leaking for a few seconds
        def announced():
            for _ in range(5):
                server.get("/")
            return [OOM.match(l) for l in server.log().splitlines() if OOM.match(l)]
        found = wait_until(announced, 60, "an OOM line")
        # THEN the line has a plausible ETA (under the 30-minute horizon) and names the leak
        minutes, seconds = int(found[0][3]), int(found[0][4])
        self.assertLess(minutes * 60 + seconds, 1800)
        self.assertGreater(minutes * 60 + seconds, 0)
        lines = server.log().splitlines()
        at = lines.index(found[0][0])
        self.assertIn("leak_bytes.py:%d in application()" % leak_line("leak_bytes.py"),
                      lines[at + 1])
        # and the ETA is a metric (uWSGI's metrics thread samples it once a second)
        def eta_metric():
            server.get("/")
            return [v["value"] for k, v in server.stats_json()["metrics"].items()
                    if k.endswith(".oom_eta") and v["value"] > 0]
        wait_until(eta_metric, 20, "a leakwatch.worker.N.oom_eta above 0")

    def test_a_worker_recycled_while_leaking_leaves_last_words(self):
        # GIVEN --reload-on-rss 60 and a 256 KiB-per-request leak
        server = self.server("leak_bytes.py", summary=0, args=[
            "--reload-on-rss", "60", "--leakwatch-threshold", "1M", "--env", "LEAK_SIZE=262144"])
        # WHEN a worker is recycled by uWSGI for its RSS
        def last_words():
            for _ in range(10):
                server.get("/")
            return [l for l in server.log().splitlines() if l.startswith("[leakwatch] LAST WORDS")]
        found = wait_until(last_words, 90, "a LAST WORDS line")
        # THEN one line names the worker, how it ended and what it held
        self.assertRegex(found[0], r"^\[leakwatch\] LAST WORDS worker \d pid \d+, "
                                   r"recycled by --reload-on-rss: ")
        self.assertIn("leak_bytes.py:%d in application() held " % leak_line("leak_bytes.py"),
                      found[0])

    def test_a_normal_recycle_stays_silent(self):
        # GIVEN --max-requests 30 and an app that does not leak
        server = self.server("hello.py", summary=0, args=["--max-requests", "30"])
        # WHEN both workers are recycled a few times
        def recycled():
            for _ in range(20):
                server.get("/")
            return server.log().count("Respawned uWSGI worker") >= 4
        wait_until(recycled, 60, "workers to be recycled")
        # THEN leakwatch says nothing about it
        self.assertFalse(any("LAST WORDS" in l for l in server.leakwatch_lines()))

    def test_the_limit_of_a_nested_cgroup_is_found(self):
        # GIVEN uWSGI started in a cgroup of its own below this one, limited
        # to 300 MiB (as systemd runs a service with MemoryMax=), while the
        # hierarchy's root has no limit
        parent, limit_file = own_memory_cgroup()
        if parent is None or not os.access(parent, os.W_OK):
            self.skipTest("no writable memory cgroup here (needs root and cgroup v1 or delegation)")
        try:
            child = tempfile.mkdtemp(prefix="leakwatch-test-", dir=parent)
        except OSError as e:
            self.skipTest(f"cannot create a cgroup under {parent}: {e}")
        self.addCleanup(os.rmdir, child)  # runs after the server has stopped: empty by then
        try:
            with open(os.path.join(child, limit_file), "w") as f:
                f.write(str(300 << 20))
        except OSError as e:
            self.skipTest(f"cannot limit a cgroup here: {e}")
        def enter():
            with open(os.path.join(child, "cgroup.procs"), "w") as f:
                f.write("0")  # this process, before it becomes uWSGI
        # WHEN it starts
        server = self.server("hello.py", summary=0, preexec_fn=enter)
        # THEN the limit it logs is the nested cgroup's, shared by all workers
        self.assertIn(f"[leakwatch]   memory limit 300.0 MiB (cgroup {child}, shared by all workers)",
                      server.leakwatch_lines())

    def test_no_limit_no_projection(self):
        server = self.server("hello.py", summary=0, args=["--leakwatch-memory-limit", "off"])
        self.assertEqual(server.get("/")[0], 200)
        self.assertFalse(any(l.startswith("[leakwatch]   memory limit")
                             for l in server.leakwatch_lines()))


if __name__ == "__main__":
    unittest.main()

"""Growth that no request drives is judged against time: a thread of a
worker that serves about a request a second is announced at its line."""
import os
import re
import time
import unittest

from harness import APPS, UwsgiTestCase, leak_line

TIMED = re.compile(r"^\[leakwatch\] LEAK (.+):(\d+) in (.+)\(\): \+([\d.]+) (KiB|MiB|GiB) "
                   r"over ([\d.]+) s and (\d+) requests? \(.*/s\) on workers? ([\d,]+)$", re.M)
UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


class QuietWorkerTest(UwsgiTestCase):

    def test_a_thread_of_a_quiet_worker_is_announced(self):
        # GIVEN 2 workers whose scheduler thread keeps some 1.3 MB a second
        # each, and a 2 MiB threshold
        server = self.server("leak_thread_quiet.py", summary=0, args=ARGS)
        # WHEN a request comes about once a second (the workload's pace, not
        # a timing assertion), for at most 3 minutes
        found = None
        for _ in range(180):
            self.assertEqual(server.get("/")[0], 200)
            found = TIMED.search(server.log())
            if found:
                break
            time.sleep(1)
        self.assert_named(found, server)

    def test_a_thread_of_an_idle_worker_is_announced(self):
        # GIVEN the same app, WHEN no request comes at all (but the one that
        # says the server is up), for at most 3 minutes
        server = self.server("leak_thread_quiet.py", summary=0, args=ARGS)
        found = None
        for _ in range(180):
            found = TIMED.search(server.log())
            if found:
                break
            time.sleep(1)
        self.assert_named(found, server)
        # what moved between requests is said to be no request's, and both
        # workers publish it, the one that never served a request too
        self.assertIn("[leakwatch]   endpoints: <no request> (+", server.log())
        self.assertEqual(found[8], "1,2", found[0])

    def assert_named(self, found, server):
        # THEN the thread's line is named, its growth said over seconds of
        # activity (time, not the requests, drove it), by 3T (the target is
        # 2T: README, Detection quality)
        self.assertIsNotNone(found, server.log())
        self.assertEqual((found[1], int(found[2]), found[3]),
                         (os.path.join(APPS, "leak_thread_quiet.py"),
                          leak_line("leak_thread_quiet.py"), "scheduler"))
        self.assertLessEqual(float(found[4]) * UNITS[found[5]], 3 * (2 << 20), found[0])
        self.assertLess(int(found[7]), 10 * float(found[6]), found[0])


ARGS = ["--enable-threads", "--lazy-apps", "--leakwatch-threshold", "2M"]


if __name__ == "__main__":
    unittest.main()

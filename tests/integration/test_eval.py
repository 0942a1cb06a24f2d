"""make eval's runner works end to end: a labelled leak is found at its
marked line and a labelled plateau stays quiet (two apps of the corpus;
the whole corpus is `make eval`)."""
import os
import re
import subprocess
import unittest

from harness import ROOT


class EvalRunnerTest(unittest.TestCase):

    def run_eval(self, *apps):
        proc = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "eval", "eval.py"),
                               *apps], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=600)
        return proc.returncode, proc.stdout

    def test_a_leak_and_a_plateau_are_judged_right(self):
        # GIVEN a memo-dict leak and a pool that fills to its maximum
        # WHEN the eval runner serves both from real uWSGI
        rc, out = self.run_eval("leak_memo_dict.py", "ok_pool.py")
        # THEN the leak is found at its line and the pool is quiet: exit 0
        self.assertEqual(rc, 0, out)
        rows = {l.split()[0]: l for l in out.splitlines()
                if l.startswith(("leak_memo_dict.py", "ok_pool.py"))}
        self.assertRegex(rows["leak_memo_dict.py"], r" LEAK +yes +\w+ +\d+ .* ok$", out)
        self.assertRegex(rows["ok_pool.py"], r" quiet +- +- +20000 .* ok$", out)
        self.assertIn("0 missed or misplaced", out)

    def test_a_false_alarm_fails_the_run(self):
        # GIVEN a leaking app mislabelled as a plateau (a copy, outside the corpus)
        src = os.path.join(ROOT, "tests", "eval", "apps", "leak_memo_dict.py")
        dst = os.path.join(ROOT, "tests", "eval", "apps", "zz_mislabelled_test.py")
        with open(src) as f:
            text = f.read().replace('"expect": "leak", "threshold": "512k"',
                                    '"expect": "none", "threshold": "512k", "requests": 3000')
        with open(dst, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, dst)
        # WHEN the runner judges it
        rc, out = self.run_eval("zz_mislabelled_test.py")
        # THEN the alert counts as a false alarm and the run fails
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"; [1-9]\d* false alarms", out)


if __name__ == "__main__":
    unittest.main()

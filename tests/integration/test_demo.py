"""make demo (examples/demo.py) ends with a summary for people: the LEAK,
what holds it and the OOM warning, where the page and the report were
saved and the full log; no SITES debug blocks (issue 19)."""
import os
import re
import subprocess
import sys
import unittest

from harness import ROOT


class DemoTest(unittest.TestCase):

    def test_the_demo_ends_with_a_short_summary(self):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=180)
        out = proc.stdout
        self.assertEqual(proc.returncode, 0, out)
        summary = out[out.index("--- summary: "):]
        self.assertRegex(summary, r"(?m)^LEAK  .*leaky_profiler\.py:\d+ in .+: \+[\d.]+ MiB over ")
        self.assertRegex(summary, r"(?m)^HELD  .* held by: .*Profiler\.records \(list, \d+ items\) "
                                  r"<- class Profiler \(")
        self.assertRegex(summary, r"(?m)^OOM   worker \d pid \d+: ")
        report = re.search(r"(?m)^report:   (\S+) ", summary)
        log = re.search(r"(?m)^full log: (\S+)$", summary)
        self.assertTrue(os.path.getsize(report[1]) > 0, summary)
        # what is shown is first lines: the detail lines and SITES blocks stay in the log
        self.assertNotIn("SITES", out)
        self.assertNotIn("[leakwatch]   ", out)
        with open(log[1]) as f:
            self.assertIn("[leakwatch]   traceback, most recent call first:", f.read())
        self.assertLess(len(out.splitlines()), 40, out)


if __name__ == "__main__":
    unittest.main()

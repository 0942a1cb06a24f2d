"""The Prometheus rules of examples/prometheus: promtool checks them and
runs their unit tests, and every leakwatch metric they name is one a real
uWSGI with leakwatch serves on /metrics (issue 19)."""
import os
import re
import subprocess
import unittest

from harness import ROOT, UwsgiTestCase, free_port, http_get

RULES = os.path.join(ROOT, "examples", "prometheus")


class PrometheusRulesTest(UwsgiTestCase):

    def promtool(self, *args):
        proc = subprocess.run(["promtool", *args], cwd=RULES, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        return proc.stdout

    def test_the_rules_are_valid_and_pass_their_tests(self):
        self.assertIn("SUCCESS: 8 rules found", self.promtool("check", "rules",
                                                              "leakwatch-rules.yml"))
        self.assertIn("SUCCESS", self.promtool("test", "rules", "leakwatch-rules.test.yml"))

    def test_the_metrics_the_rules_name_are_served(self):
        with open(os.path.join(RULES, "leakwatch-rules.yml")) as f:
            named = set(re.findall(r"\b(leakwatch_[a-z_]+)", f.read()))
        self.assertGreaterEqual(len(named), 5, named)
        http = free_port()
        self.server("leak_bytes.py", summary=0, args=["--leakwatch-http", f":{http}"])
        status, body = http_get(http, "/metrics")
        self.assertEqual(status, 200)
        families = set(re.findall(r"(?m)^# TYPE (\S+) ", body.decode()))
        self.assertEqual(named - families, set(), "rules name metrics /metrics does not serve")


if __name__ == "__main__":
    unittest.main()

"""`uwsgi --build-plugin .` builds the same plugin as `make`, from uwsgiplugin.py."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import ROOT, UWSGI, run_uwsgi


class BuildPluginTest(unittest.TestCase):

    def test_uwsgi_build_plugin_builds_a_loadable_plugin(self):
        # GIVEN a copy of the sources, without anything make built
        tmp = tempfile.mkdtemp(prefix="leakwatch-build-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for item in ("plugin", "src", "uwsgiplugin.py"):
            src = os.path.join(ROOT, item)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, item))
            else:
                shutil.copy(src, tmp)
        # WHEN uWSGI's own plugin builder runs there
        env = dict(os.environ, PYTHON="/usr/bin/python3")
        proc = subprocess.run([UWSGI, "--build-plugin", "."], cwd=tmp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        built = os.path.join(tmp, "leakwatch_plugin.so")
        self.assertTrue(os.path.exists(built), proc.stdout)
        # THEN the plugin exports only its entry points and loads with its options
        syms = subprocess.run(["nm", "-D", "--defined-only", built], stdout=subprocess.PIPE,
                              text=True, check=True).stdout.split()
        exported = sorted(s for s in syms if s.startswith("leakwatch"))
        self.assertEqual(exported, ["leakwatch_after_request", "leakwatch_plugin"])
        rc, out = run_uwsgi(["--plugin", built, "--help"])
        self.assertEqual(rc, 0, out)
        self.assertIn("--leakwatch-threshold", out)


if __name__ == "__main__":
    unittest.main()

"""`uwsgi --build-plugin .` builds the same plugin as `make`, from uwsgiplugin.py;
`make` installs the build's packages alone, `make test`, `make demo` and
`make bench` what they need besides."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import PYTHON, ROOT, UWSGI, run_uwsgi


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
        env = dict(os.environ, PYTHON=PYTHON)
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
        self.assertEqual(exported, ["leakwatch_after_request", "leakwatch_as_mule", "leakwatch_plugin"])
        rc, out = run_uwsgi(["--plugin", built, "--help"])
        self.assertEqual(rc, 0, out)
        self.assertIn("--leakwatch-threshold", out)


# What the plugin's build needs, and what only tests, demo, bench or tools do.
BUILD_PACKAGES = {"uwsgi-core", "uwsgi-dev", "uwsgi-plugin-python3", "python3-dev",
                  "libjansson-dev", "gcc", "make"}
NOT_FOR_BUILD = {"libcmocka-dev", "python3-flask", "wrk", "prometheus", "chromium", "valgrind",
                 "clang-format", "clang"}
TESTSUITE = re.compile(r"^libpython3\.\d+-testsuite$")
INSTALLS = re.compile(r"for p in ([^;]*); do")


def installs(*target):
    """The packages `make TARGET` would install on a bare machine: what its dry
    run (make -n, every target out of date) hands to install_missing."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(["make", "-n", "-B", "-C", ROOT, *target], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout
    return {p for m in INSTALLS.finditer(proc.stdout) for p in m[1].split()}


class DependencyTest(unittest.TestCase):

    def test_make_installs_the_build_packages_alone(self):
        for target in ((), ("leakwatch_plugin.so",), ("deps",)):
            with self.subTest(target=target):
                # GIVEN `make` (the plugin) on a machine missing every package
                # WHEN it runs THEN it installs what the build needs, nothing for tests
                packages = installs(*target)
                self.assertLessEqual(BUILD_PACKAGES, packages)
                self.assertEqual(packages & NOT_FOR_BUILD, set())
                self.assertFalse([p for p in packages if TESTSUITE.match(p)], packages)

    def test_test_demo_and_bench_install_what_they_need(self):
        need = {"test": {"libcmocka-dev", "prometheus", "chromium", "wrk", "python3-flask"},
                "demo": {"python3-flask", "chromium"},
                "bench": {"python3-flask", "wrk", "valgrind"}}
        for target, packages in need.items():
            with self.subTest(target=target):
                # GIVEN a machine missing every package WHEN `make TARGET` runs
                # THEN it installs the build's packages and its own
                self.assertLessEqual(BUILD_PACKAGES | packages, installs(target))
        self.assertTrue([p for p in installs("test") if TESTSUITE.match(p)])


if __name__ == "__main__":
    unittest.main()

"""`make deb` builds uwsgi-plugin-leakwatch: it installs like any uWSGI
plugin package (leakwatch_plugin.so in uWSGI's plugin directory, the
README and the example config as its documentation), depends on the uWSGI
ABI and the Python it was built for, loads by name (`--plugin
python3,leakwatch`, `plugins = python3,leakwatch` in an ini) and finds a
leak there, and leaves nothing behind when purged (issue 19)."""
import glob
import hashlib
import os
import subprocess
import sys
import unittest

from harness import ROOT, UWSGI, Server, UwsgiTestCase, leak_line, wait_until

PACKAGE = "uwsgi-plugin-leakwatch"
INSTALLED = "/usr/lib/uwsgi/plugins/leakwatch_plugin.so"


class IniServer(Server):
    """No plugin on the command line: the ini (INI, first) names them."""
    INI = None

    def command(self):
        cmd = super().command()
        at = cmd.index("--plugin")
        return cmd[:at] + ["--ini", self.INI] + cmd[at + 2:]


def run(*cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          **kwargs)


@unittest.skipUnless(os.geteuid() == 0, "installs a package: root only")
@unittest.skipUnless(UWSGI == "/usr/bin/uwsgi" and os.path.isdir("/usr/lib/uwsgi/plugins"),
                     "Debian's modular uWSGI only")
class DebTest(UwsgiTestCase):

    @classmethod
    def setUpClass(cls):
        if run("dpkg-query", "-W", PACKAGE).returncode == 0:
            raise unittest.SkipTest(f"{PACKAGE} is installed already: not ours to remove")
        built = run("make", "-C", ROOT, "deb", timeout=900)
        if built.returncode != 0:
            raise AssertionError("make deb failed:\n" + built.stdout)
        cls.lintian = built.stdout
        debs = glob.glob(os.path.join(ROOT, "build", "deb", f"{PACKAGE}_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]

    def setUp(self):
        super().setUp()
        self.addCleanup(lambda: run("dpkg", "--purge", PACKAGE))
        out = run("apt-get", "install", "-y", "-q", self.deb, env={**os.environ,
                  "DEBIAN_FRONTEND": "noninteractive"}, timeout=600)
        self.assertEqual(out.returncode, 0, out.stdout)

    def test_it_depends_on_the_uwsgi_abi_and_the_python_it_was_built_for(self):
        depends = run("dpkg-query", "-W", "-f=${Depends}", PACKAGE).stdout
        abi = hashlib.md5(run(UWSGI, "--dot-h").stdout.encode()).hexdigest()
        self.assertIn(f"uwsgi-abi-{abi}", depends)
        minor = "%d.%d" % sys.version_info[:2]
        self.assertIn(f"libpython{minor} (>= {minor})", depends)
        self.assertIn("uwsgi-plugin-python3", depends)
        files = run("dpkg", "-L", PACKAGE).stdout.split()
        self.assertIn(INSTALLED, files)
        self.assertIn(f"/usr/share/doc/{PACKAGE}/README.md.gz", files)
        self.assertIn(f"/usr/share/doc/{PACKAGE}/examples/leakwatch.ini", files)
        # lintian's remaining tags are warnings and below (README: Debian package)
        self.assertNotRegex(self.lintian, r"(?m)^E: ")

    def test_it_loads_by_name_and_finds_a_leak(self):
        server = self.server("leak_bytes.py", load="installed", summary=0,
                             args=["--leakwatch-threshold", "256k"])

        def announced():
            for _ in range(20):
                self.assertEqual(server.get("/")[0], 200)
            return "[leakwatch] LEAK" in server.log()
        wait_until(announced, 90, "a LEAK line")
        self.assertIn(f"leak_bytes.py:{leak_line('leak_bytes.py')} in ", server.log())

    def test_an_ini_loads_it_by_name(self):
        ini = os.path.join(self.id_tmp(), "app.ini")
        with open(ini, "w") as f:
            f.write("[uwsgi]\nplugins = python3,leakwatch\nleakwatch-threshold = 5MB\n")
        IniServer.INI = ini
        server = self.server("hello.py", cls=IniServer, load="installed", summary=0)
        self.assertEqual(server.get("/")[0], 200)
        self.assertIn("[leakwatch] enabled: threshold 5.0 MiB", server.log())

    def test_purging_leaves_nothing(self):
        files = [f for f in run("dpkg", "-L", PACKAGE).stdout.split() if os.path.isfile(f)]
        self.assertTrue(files)
        out = run("dpkg", "--purge", PACKAGE)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertEqual([f for f in files if os.path.exists(f)], [])
        self.assertFalse(os.path.exists(f"/usr/share/doc/{PACKAGE}"))
        self.assertNotEqual(run("dpkg-query", "-W", PACKAGE).returncode, 0)

    def id_tmp(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="leakwatch-deb-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        return d


if __name__ == "__main__":
    unittest.main()

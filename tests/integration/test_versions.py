"""The plugin runs only inside the CPython it was built for, and elsewhere
stays off with one line while uWSGI serves: it links no libpython and
every CPython symbol is a weak reference (plugin/pyversion.h)."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from unittest import mock

import harness
from harness import PLUGIN, PY_PLUGIN, PYTHON, ROOT, UWSGI, Server, UwsgiTestCase

OFF = re.compile(r"^\[leakwatch\] off, uWSGI serves without it: (.*)$", re.M)


def python_minor(python):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return out.strip()


def other_pythons(minor):
    """Pythons on this machine, of another minor version than `minor`, whose
    headers are installed (Debian's python3.X-dev): the matrix's unstable
    tree has three."""
    found = []
    for path in sorted(glob.glob("/usr/bin/python3.[0-9]*")):
        m = re.fullmatch(r"/usr/bin/python(3\.\d+)", path)
        if m and m[1] != minor and (3, 11) <= tuple(map(int, m[1].split("."))) < (3, 16) \
                and os.path.exists(f"/usr/include/python{m[1]}/Python.h"):
            found.append(path)
    return found


def copy_sources(tmp):
    for item in ("plugin", "src", "uwsgiplugin.py", "Makefile"):
        src = os.path.join(ROOT, item)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(tmp, item))
        else:
            shutil.copy(src, tmp)


class PluginOrder(Server):
    """leakwatch named before the python plugin."""

    def __init__(self, app, plugin=PLUGIN, first=True, **kwargs):
        super().__init__(app, **kwargs)
        self.plugin, self.first = plugin, first

    def command(self):
        cmd = super().command()
        python = ["--plugin", PY_PLUGIN] if PY_PLUGIN else []
        rest = cmd[1 + len(python) + 2:]  # uwsgi, python plugin, --plugin PLUGIN
        leakwatch = ["--plugin", self.plugin]
        return [cmd[0]] + (leakwatch + python if self.first else python + leakwatch) + rest


class LinkTest(unittest.TestCase):

    @unittest.skipIf(PY_PLUGIN not in ("python3", ""),
                     f"uWSGI's python3 plugin is not the one under test ({PY_PLUGIN})")
    def test_make_builds_for_the_python_uwsgi_embeds(self):
        # GIVEN the uWSGI under test (its python3 plugin, or Python compiled in)
        # WHEN make asks which Python it embeds
        found = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "uwsgiplugin.py"),
                                "--python-of", UWSGI], stdout=subprocess.PIPE, text=True,
                               check=True).stdout.strip()
        # THEN it is that interpreter's version, with headers the build can use
        self.assertEqual(python_minor(found), python_minor(PYTHON))
        cflags = subprocess.run([found, os.path.join(ROOT, "uwsgiplugin.py"), "--cflags"],
                                stdout=subprocess.PIPE, text=True, check=True).stdout.split()
        self.assertTrue(any(os.path.exists(os.path.join(f[2:], "Python.h")) for f in cflags),
                        cflags)

    def test_every_python_symbol_is_weak_and_no_libpython_is_needed(self):
        # GIVEN the built plugin
        undefined = subprocess.run(["nm", "-D", "--undefined-only", PLUGIN],
                                   stdout=subprocess.PIPE, text=True, check=True).stdout
        needed = subprocess.run(["objdump", "-p", PLUGIN], stdout=subprocess.PIPE, text=True,
                                check=True).stdout
        # WHEN its references to CPython are listed
        python = [line.split() for line in undefined.splitlines()
                  if re.search(r"\s_?Py", line)]
        # THEN there are some, every one weak, and no libpython is linked
        self.assertGreater(len(python), 10)
        self.assertEqual([s for kind, s in python if kind not in ("w", "v")], [])
        self.assertNotIn("libpython", needed)

    def test_a_free_threaded_python_refuses_the_build_in_one_line(self):
        # GIVEN a Python whose build says Py_GIL_DISABLED (CPython's own
        # sysconfig override, _PYTHON_SYSCONFIGDATA_NAME, over this one's data;
        # Debian packages no free-threaded CPython) and a copy of the sources
        real = subprocess.run([PYTHON, "-c", "import sysconfig; "
                               "print(sysconfig._get_sysconfigdata_name())"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        tmp = tempfile.mkdtemp(prefix="leakwatch-ft-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "_sysconfigdata_leakwatch_ft.py"), "w") as f:
            f.write(f"build_time_vars = dict(__import__({real!r}).build_time_vars, "
                    "Py_GIL_DISABLED=1)\n")
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        copy_sources(src)
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        env.update(_PYTHON_SYSCONFIGDATA_NAME="_sysconfigdata_leakwatch_ft", PYTHONPATH=tmp,
                   PYTHON=PYTHON)
        routes = {"make": ["make", "-C", src, f"PYTHON={PYTHON}", f"UWSGI={UWSGI}",
                           "leakwatch_plugin.so"],
                  "uwsgi --build-plugin": [UWSGI, "--build-plugin", src]}
        for route, cmd in routes.items():
            with self.subTest(route=route):
                # WHEN the plugin is built for it
                proc = subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=300)
                # THEN the build stops, with one line that says why, and nothing built
                said = [l for l in proc.stdout.splitlines() if "leakwatch:" in l]
                self.assertNotEqual(proc.returncode, 0, proc.stdout)
                self.assertEqual(len(said), 1, proc.stdout)
                self.assertIn("free-threaded CPython (Py_GIL_DISABLED)", said[0])
                self.assertFalse(glob.glob(os.path.join(tmp, "**", "*.so"), recursive=True))


class RefusalAtStartTest(UwsgiTestCase):

    def assert_off_and_serving(self, server, because):
        status, _ = server.get("/")
        self.assertEqual(status, 200)
        said = OFF.findall(server.log())
        self.assertEqual(len(said), 1, server.log())
        self.assertIn(because, said[0])
        self.assertFalse([l for l in server.leakwatch_lines() if "] enabled:" in l])

    @unittest.skipIf(PY_PLUGIN == "", "a monolithic uWSGI has Python before any plugin")
    def test_loaded_before_the_python_plugin_it_stays_off(self):
        # GIVEN leakwatch named before the python plugin (no CPython loaded yet)
        server = self.server(cls=PluginOrder, summary=0)
        # WHEN uWSGI starts and serves THEN leakwatch says so once and stays off
        self.assert_off_and_serving(server, "load leakwatch after uWSGI's python plugin")

    def test_in_a_free_threaded_cpython_it_stays_off(self):
        # GIVEN a process that looks free-threaded to leakwatch: a preloaded
        # library exports the function only free-threaded libpythons export
        # (Debian packages no free-threaded CPython to run a real one)
        tmp = tempfile.mkdtemp(prefix="leakwatch-ftrun-")
        self.addCleanup(shutil.rmtree, tmp, True)
        source, shim = os.path.join(tmp, "ft.c"), os.path.join(tmp, "libft.so")
        with open(source, "w") as f:
            f.write("void _Py_MergeZeroLocalRefcount(void *op) { (void)op; }\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, source], check=True)
        # WHEN uWSGI starts with leakwatch and serves
        with mock.patch.object(harness, "PRELOAD", (harness.PRELOAD + " " + shim).strip()):
            server = self.server(summary=0)
        # THEN leakwatch says so once, stays off, and uWSGI serves
        self.assert_off_and_serving(server, "free-threaded CPython")

    def test_built_for_another_minor_version_it_stays_off(self):
        # GIVEN a plugin built for another CPython minor version than uWSGI runs
        running = python_minor(PYTHON)
        others = other_pythons(running)
        if not others:
            self.skipTest(f"no CPython but {running} with headers here; make matrix's "
                          "unstable legs have 3.13, 3.14 and 3.15")
        other = others[0]
        tmp = tempfile.mkdtemp(prefix="leakwatch-other-")
        self.addCleanup(shutil.rmtree, tmp, True)
        copy_sources(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        proc = subprocess.run(["make", "-C", tmp, f"PYTHON={other}", f"UWSGI={UWSGI}",
                               "leakwatch_plugin.so"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        built_for = python_minor(other)
        # WHEN uWSGI loads it, in its right place after the python plugin
        server = self.server(cls=PluginOrder, plugin=os.path.join(tmp, "leakwatch_plugin.so"),
                             first=False, summary=0)
        # THEN leakwatch names both versions in one line, stays off, and uWSGI serves
        self.assert_off_and_serving(
            server, f"built for CPython {built_for}, this process runs CPython {running}")


if __name__ == "__main__":
    unittest.main()

"""Starts real uWSGI with the built leakwatch plugin, for integration tests.

Each server gets a free loopback port, is waited for with a deadline (never
a bare sleep), is stopped by the PID of its process group, and has its log
printed when the test that started it fails.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# make test-sanitize points these at a sanitizer build of the plugin and the
# sanitizer's runtime, which is preloaded into uWSGI only (not uninstrumented
# tools such as Chromium or Prometheus).
PLUGIN = os.environ.get("LEAKWATCH_PLUGIN") or os.path.join(ROOT, "leakwatch_plugin.so")
PRELOAD = os.environ.get("LEAKWATCH_PRELOAD", "").strip()
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|runtime error:|"
                              r"WARNING: ThreadSanitizer|ERROR: LeakSanitizer")
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
# The uWSGI to run, the plugin that gives it Python and the interpreter that
# plugin embeds, for the version matrix (tests/matrix/):
# LEAKWATCH_PY_PLUGIN=python313 loads a python plugin built for another
# interpreter (LEAKWATCH_PYTHON=/usr/bin/python3.13); set but empty, uWSGI
# has Python compiled in (a monolithic build, as pip makes it) and no python
# plugin is loaded.
UWSGI = os.environ.get("LEAKWATCH_UWSGI") or shutil.which("uwsgi") or "/usr/bin/uwsgi"
PY_PLUGIN = os.environ.get("LEAKWATCH_PY_PLUGIN", "python3")
PYTHON_PLUGIN = ["--plugin", PY_PLUGIN] if PY_PLUGIN else []
PYTHON = os.environ.get("LEAKWATCH_PYTHON") or "/usr/bin/python3"

# what a worker's SITES line says it could not record: must stay 0 (issue 20)
SITES_LOST = re.compile(r"^\[leakwatch\] SITES .*, (\d+) lost, ", re.M)
STATUS_HEAD = re.compile(r"^\[leakwatch\] STATUS (\d+) workers, (\d+) requests, (\d+) respawns$")
STATUS_WORKER = re.compile(
    r"^\[leakwatch\]   worker (\d+) pid (\d+): (\d+) requests, spawn (\d+)$")


def leak_line(app):
    """The line of an app marked `# LEAK-LINE`: where its growth happens."""
    with open(os.path.join(APPS, app)) as f:
        for number, line in enumerate(f, 1):
            if "# LEAK-LINE" in line:
                return number
    raise AssertionError(f"no LEAK-LINE marker in {app}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10):
    """One GET on loopback, connection closed after: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def read_document(sock):
    """Everything a report connection sends until it closes, as JSON."""
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return json.loads(b"".join(chunks))
        chunks.append(data)


def wait_until(predicate, timeout, what):
    """Polls predicate() until it returns a truthy value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def uwsgi_env():
    """The environment uWSGI runs in: with the sanitizer runtime when sanitizing."""
    env = dict(os.environ)
    if PRELOAD:
        env["LD_PRELOAD"] = PRELOAD
        # CPython and uWSGI keep memory until exit on purpose: no leak report;
        # a small quarantine, or RSS holds 256 MiB of freed blocks and the
        # NATIVE and OOM judgements (which read RSS) judge ASan, not the app
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:quarantine_size_mb=8")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        # uWSGI finalizes Python inside its SIGINT handler (every free of the
        # shutdown would be reported as signal-unsafe); data races still are
        env.setdefault("TSAN_OPTIONS", "halt_on_error=0:report_signal_unsafe=0")
    return env


def sanitizer_reports(output):
    """The lines of a sanitizer's report in a uWSGI log ([] when clean)."""
    return [l for l in output.splitlines() if SANITIZER_REPORT.search(l)]


def run_uwsgi(args, timeout=30):
    """Runs uWSGI to completion (for refusals and --help); returns (rc, output)."""
    proc = subprocess.run([UWSGI] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          start_new_session=True, env=uwsgi_env())
    reports = sanitizer_reports(proc.stdout)
    if reports:
        raise AssertionError("sanitizer report:\n" + proc.stdout)
    return proc.returncode, proc.stdout


class Server:
    """One uWSGI instance serving a WSGI app over --http-socket.

    load: "path" (the plugin by path), "name" (--plugins-dir, --plugin
    leakwatch), "installed" (--plugin python3,leakwatch: an installed
    package's) or None (no leakwatch, and then no summary). app: a file
    under tests/integration/apps, or an absolute path.
    """

    def __init__(self, app, args=(), load="path", master=True, processes=2,
                 stats=True, summary=1, preexec_fn=None, lost_ok=False, report=False):
        self.app = os.path.join(APPS, app)
        self.args = list(args)
        self.load = load
        self.master = master
        self.processes = processes
        self.stats = stats
        self.summary = summary
        self.preexec_fn = preexec_fn  # run in uWSGI's process before exec (limits)
        self.lost_ok = lost_ok  # a test that fills leakwatch's tables on purpose
        self.report_on = report  # --leakwatch-report on a port of its own: report()
        self.proc = None
        self.closed_log = None
        self.tmp = tempfile.mkdtemp(prefix="leakwatch-it-")
        self.log_path = os.path.join(self.tmp, "uwsgi.log")

    def command(self):
        if self.load is None:  # Python alone: what leakwatch is compared with
            plugins = PYTHON_PLUGIN
        elif self.load == "path":
            plugins = PYTHON_PLUGIN + ["--plugin", PLUGIN]
        elif self.load == "installed":  # by name, from uWSGI's own plugin directory
            plugins = ["--plugin", "python3,leakwatch"]
        else:
            plugins = PYTHON_PLUGIN + ["--plugins-dir", os.path.dirname(PLUGIN),
                                       "--plugin", "leakwatch"]
        cmd = [UWSGI] + plugins + [
            "--http-socket", f"127.0.0.1:{self.port}",
            "--wsgi-file", self.app,
            "--processes", str(self.processes),
            "--need-app", "--die-on-term", "--disable-logging",
        ]
        if self.master:
            cmd.append("--master")
        if self.stats:
            cmd += ["--stats", f"127.0.0.1:{self.stats_port}"]
        if self.summary:
            cmd += ["--leakwatch-summary", str(self.summary)]
        if self.report_on:
            cmd += ["--leakwatch-report", f"127.0.0.1:{self.report_port}"]
        return cmd + self.args

    def start(self, timeout=30):
        for _ in range(3):  # a port picked free can be taken before uWSGI binds it
            self.port, self.stats_port, self.report_port = free_port(), free_port(), free_port()
            log = self.open_log()
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.tmp, start_new_session=True, env=uwsgi_env(),
                                         preexec_fn=self.preexec_fn)
            log.close()
            try:
                wait_until(self._ready, timeout, "uWSGI to answer HTTP")
                return self
            except AssertionError:
                if "Address already in use" not in self.log():
                    raise
                self.stop()
        raise AssertionError("could not find a free port for uWSGI")

    def open_log(self):
        """Where uWSGI's output goes: a file object, closed once uWSGI has it."""
        return open(self.log_path, "w")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"uWSGI exited early with status {self.proc.returncode}")
        try:
            return self.get("/")[0] == 200
        except OSError:
            return False

    def get(self, path, timeout=10):
        return http_get(self.port, path, timeout)

    def stats_json(self):
        with socket.create_connection(("127.0.0.1", self.stats_port), timeout=10) as s:
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return json.loads(b"".join(chunks))

    def worker_requests(self):
        """uWSGI's own per-worker request counters, {wid: (pid, requests)}."""
        return {w["id"]: (w["pid"], w["requests"]) for w in self.stats_json()["workers"]}

    def report(self):
        """The JSON report (a server started with report=True)."""
        with socket.create_connection(("127.0.0.1", self.report_port), timeout=10) as s:
            return read_document(s)

    def wait_judged(self, timeout=30):
        """Waits until the analyst has looked at every request served so far
        (a look judges what it sees), and returns the report of that moment:
        an alert then names the growth as of the requests sent, however
        loaded the machine."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.report()
            if doc["as_of_requests"] >= sum(w["requests"] for w in doc["workers"]):
                return doc
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for the analyst "
                                     "to look at every request served")
            time.sleep(0.005)  # it looks every 2 ms while records flow

    def log(self):
        if self.closed_log is not None:
            return self.closed_log
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def leakwatch_lines(self):
        return [l for l in self.log().splitlines() if l.startswith("[leakwatch]")]

    def statuses(self):
        """Every STATUS block logged so far, as dicts."""
        blocks = []
        for line in self.log().splitlines():
            m = STATUS_HEAD.match(line)
            if m:
                blocks.append({"workers": int(m[1]), "requests": int(m[2]),
                               "respawns": int(m[3]), "per_worker": {}})
                continue
            m = STATUS_WORKER.match(line)
            if m and blocks:
                blocks[-1]["per_worker"][int(m[1])] = {
                    "pid": int(m[2]), "requests": int(m[3]), "spawn": int(m[4])}
        return blocks

    def wait_status(self, predicate, timeout=20, what="a STATUS line"):
        def check():
            for block in reversed(self.statuses()):
                if predicate(block):
                    return block
            return None
        return wait_until(check, timeout, what)

    def stop(self, timeout=20):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)
        except ProcessLookupError:
            pass
        finally:
            try:  # workers left behind by a master that died first
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


    def close(self):
        """Stops the server, keeps its log in memory and removes its files."""
        self.stop()
        try:
            self.closed_log = self.log()
        except OSError:
            self.closed_log = ""
        shutil.rmtree(self.tmp, True)


class UwsgiTestCase(unittest.TestCase):
    """Base class: servers started here are stopped, and their logs shown on failure."""

    def run(self, result=None):
        self._servers = []
        before = len(result.failures) + len(result.errors) if result else 0
        outcome = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            for server in self._servers:
                print(f"\n----- uWSGI log ({' '.join(server.command())}) -----")
                print(server.log())
                print("----- end of uWSGI log -----")
        return outcome

    def server(self, app="hello.py", cls=Server, **kwargs):
        server = cls(app, **kwargs)
        self._servers.append(server)
        self.addCleanup(self._assert_no_sanitizer_report, server)  # runs after close
        self.addCleanup(server.close)
        return server.start()

    def _assert_no_sanitizer_report(self, server):
        log = server.log()
        reports = sanitizer_reports(log)
        self.assertEqual(reports, [], "a sanitizer reported an error in uWSGI")
        # and nothing was lost, in any test that does not fill a table on purpose
        if not server.lost_ok:
            self.assertEqual([n for n in SITES_LOST.findall(log) if n != "0"], [],
                             "a worker could not record samples (SITES ... lost)")

"""The WSGI app of `make torture`: CPython's own regression tests of one
module, run inside the uWSGI worker that serves the request.

    GET /                          200 "ready <pid>" (readiness, and whether
                                   the worker outlived the last request)
    GET /run?module=test_dict      runs test.test_dict with unittest in this
                                   process; answers one JSON document:
        {"module", "pid", "seconds",
         "outcomes": {test id: outcome}, "reasons": {test id: one line}}

An outcome is one of pass, fail, error, skip, xfail (an expected failure)
and xpass (an unexpected success). Subtests count for their test: a test
has the worst outcome of its parts (error, fail, xpass, xfail, pass, skip
in that order). Import errors, module-level skips and loader errors are
outcomes too, under the module's name.

The tests run as regrtest runs them (Lib/test/libregrtest): support.verbose
0, no optional resources (network, cpu, ...), faulthandler on stderr (the
uWSGI log) so a crash shows the Python stack of every thread, the module's
load_tests honoured and a test_main called with support's suite runner
pointed at our result. Each test writes "start <id>" and then "<outcome>
<id>" to the journal (torture-journal.txt in the working directory,
unbuffered), so the harness knows which test a dying worker was running.
"""
import contextlib
import ctypes
import faulthandler
import importlib
import json
import os
import signal
import sys
import time
import traceback
import unittest
from urllib.parse import parse_qs

from test import support

support.verbose = 0
support.use_resources = []
JOURNAL = "torture-journal.txt"
LIBC = ctypes.CDLL(None, use_errno=True)
SIGACTION_BYTES = 256  # more than any libc's struct sigaction (glibc x86-64: 152)
# worst first: a test's parts (subtests) give it the first outcome here
SEVERITY = ["error", "fail", "xpass", "xfail", "pass", "skip"]


def reason_of(text):
    """The last non-empty line of a traceback or skip reason, cut to 200."""
    lines = [l for l in str(text).splitlines() if l.strip()]
    return (lines[-1] if lines else "")[:200]


def exception_of(err):
    """The first line of what an exc_info says ("AssertionError: 1 != 2")."""
    return "".join(traceback.format_exception_only(err[0], err[1])).strip().splitlines()[0]


class Recorder(unittest.TestResult):
    """Records each test id's outcome and journals it as it happens."""

    def __init__(self, journal_fd):
        super().__init__()
        self.journal_fd = journal_fd
        self.outcomes = {}
        self.reasons = {}

    def journal(self, word, test_id):
        os.write(self.journal_fd, f"{word} {test_id}\n".encode("utf-8", "replace"))

    def record(self, test, outcome, reason=""):
        test = getattr(test, "test_case", test)  # a subtest counts for its test
        test_id = test.id()
        old = self.outcomes.get(test_id)
        if old is None or SEVERITY.index(outcome) < SEVERITY.index(old):
            self.outcomes[test_id] = outcome
            if reason:
                self.reasons[test_id] = reason_of(reason)
            self.journal(outcome, test_id)

    def record_module(self, name, outcome, reason):
        """An outcome of the module as a whole (import or loading failed)."""
        self.outcomes[name] = outcome
        self.reasons[name] = reason_of(reason)
        self.journal(outcome, name)

    def startTest(self, test):
        super().startTest(test)
        self.journal("start", test.id())

    def addSuccess(self, test):
        self.record(test, "pass")

    def addFailure(self, test, err):
        self.record(test, "fail", exception_of(err))

    def addError(self, test, err):
        self.record(test, "error", exception_of(err))

    def addSkip(self, test, reason):
        self.record(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        self.record(test, "xfail")

    def addUnexpectedSuccess(self, test):
        self.record(test, "xpass")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.record(test, "fail" if failed else "error", exception_of(err))


def run_module(name, result):
    """Imports test.<name> afresh and runs its tests into result."""
    qualified = "test." + name
    sys.modules.pop(qualified, None)
    try:
        module = importlib.import_module(qualified)
    except unittest.SkipTest as e:  # the whole module does not apply here
        result.record_module(name, "skip", str(e))
        return
    if hasattr(module, "test_main"):  # it builds its suite and calls support
        support._run_suite = lambda suite: suite.run(result)
        module.test_main()
        return
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(module)  # load_tests is honoured here
    if loader.errors:
        result.record_module(name, "error", loader.errors[-1])
    suite.run(result)


@contextlib.contextmanager
def python_sigint():
    """SIGINT as a Python process has it (KeyboardInterrupt) while the tests
    run: some raise it on purpose, and uWSGI's handler would end the worker.
    uWSGI's action is put back after with sigaction(2), as Python cannot
    restore a handler it did not install."""
    saved = ctypes.create_string_buffer(SIGACTION_BYTES)
    if LIBC.sigaction(signal.SIGINT, None, saved) != 0:
        raise OSError(ctypes.get_errno(), "sigaction(SIGINT) could not be read")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        LIBC.sigaction(signal.SIGINT, saved, None)


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("PATH_INFO") != "/run":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"ready {os.getpid()}\n".encode()]
    name = query.get("module", [""])[0]
    if not name.startswith("test_") or not name.replace("_", "").isalnum():
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"module=test_<name> expected\n"]
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
    fd = os.open(JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    result = Recorder(fd)
    started = time.monotonic()
    try:
        with python_sigint():
            run_module(name, result)
    except BaseException as e:  # SystemExit and KeyboardInterrupt from a test too
        result.record_module(name, "error", f"{type(e).__name__}: {e}")
    finally:
        os.close(fd)
    body = {"module": name, "pid": os.getpid(), "seconds": time.monotonic() - started,
            "outcomes": result.outcomes, "reasons": result.reasons}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]

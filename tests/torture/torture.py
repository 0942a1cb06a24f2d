#!/usr/bin/python3
"""make torture: CPython's own regression tests (Debian's
libpython3.11-testsuite) run inside a real uWSGI worker, in three
configurations: without leakwatch (the baseline), with leakwatch in exact
mode (every allocation sampled) and with leakwatch at its defaults.

    tests/torture/torture.py [--modules test_dict ...] [--configs baseline exact]
                             [--timeout SECONDS] [--out build/torture]

Each module runs in a fresh uWSGI instance per configuration (a master, one
worker, --enable-threads, no harakiri), so a module that breaks the
interpreter cannot spoil the next; the worker runs the tests itself, in the
request (tests/torture/app.py), with leakwatch's hooks armed.

The verdict: leakwatch's configurations must give every test the outcome
the baseline gives it, and no worker may die or hang. A worker that dies is
a crash of that module in that configuration, reported with its signal,
the test it was running and uWSGI's log around the death (the whole log is
kept in OUT/logs/). Tests that fail in the baseline too (CPython tests that
cannot pass inside a uWSGI worker) are listed, not judged. Exit status 1 on
any crash, hang or difference; the results are also written to
OUT/results.json.
"""
import argparse
import dataclasses
import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from harness import PLUGIN, PYTHON, ROOT, UWSGI, Server, sanitizer_reports, wait_until  # noqa: E402

APP = os.path.join(HERE, "app.py")
# CPython 3.11 has no test_contextvars: contextvars is tested by test_context
MODULES = ["test_dict", "test_list", "test_tuple", "test_set", "test_collections",
           "test_ordered_dict", "test_descr", "test_class", "test_gc", "test_weakref",
           "test_finalization", "test_functools", "test_itertools", "test_copy",
           "test_pickle", "test_json", "test_re", "test_threading", "test_context",
           "test_exceptions", "test_generators", "test_dataclasses", "test_enum",
           "test_typing", "test_sys", "test_contextlib"]
CONFIGS = {"baseline": None,
           "exact": ["--leakwatch-sample-rate", "exact"],
           "defaults": []}
TIMEOUT = 1800  # seconds one module may run: the slowest takes minutes in exact mode
ARGS = ["--enable-threads",
        # one request runs a whole module; --http-socket has no router, so
        # --http-timeout does not apply and the socket timeout is what counts
        "--socket-timeout", str(TIMEOUT),
        # tests that start a Python child run sys.executable (uwsgi-core here)
        "--py-sys-executable", PYTHON]
JOURNAL = "torture-journal.txt"  # app.py writes it in uWSGI's working directory
PASSING = {"pass", "xfail", "skip"}
# the log around a death: its first lines (faulthandler's Python stacks, then
# uWSGI's C backtrace) and its last (up to the master's line about it)
EXCERPT_HEAD, EXCERPT_TAIL = 50, 20

DIED = re.compile(r"^DAMN ! worker \d+ \(pid: (\d+)\) (?:MISTERIOUSLY killed by signal (\d+)"
                  r"|died, killed by signal (\d+)|died)", re.M)
# faulthandler's line, then uWSGI's own handler's (which ends the worker
# with exit(1), so the master's line may carry no signal)
FATAL = re.compile(r"^Fatal Python error: (.*)$", re.M)
UWSGI_FAULT = re.compile(r"^!!! uWSGI process \d+ got (Segmentation Fault|Floating Point "
                         r"Exception) !!!$", re.M)
SIGNAL_NAMES = {"Segmentation fault": signal.SIGSEGV, "Segmentation Fault": signal.SIGSEGV,
                "Aborted": signal.SIGABRT, "Bus error": signal.SIGBUS,
                "Floating point exception": signal.SIGFPE,
                "Floating Point Exception": signal.SIGFPE,
                "Illegal instruction": signal.SIGILL}


@dataclasses.dataclass
class Run:
    """One module in one configuration."""
    module: str
    config: str
    outcomes: dict = dataclasses.field(default_factory=dict)  # test id -> outcome
    reasons: dict = dataclasses.field(default_factory=dict)   # test id -> one line
    seconds: float = 0.0  # the module's tests, as the client waited for them
    wall: float = 0.0     # the whole instance, start to stop
    crash: dict = None    # {"what", "phase", "signal", "test", "cause", "log", "excerpt"}


def server_for(config):
    load = None if CONFIGS[config] is None else "path"
    return Server(APP, args=ARGS + (CONFIGS[config] or []), load=load, processes=1,
                  summary=0)


def run_one(module, config, timeout=TIMEOUT, logs=None):
    """Runs module's tests in a fresh uWSGI in config, its log kept in
    logs/ (when given). What the worker does is recorded, not raised."""
    run, server, started = Run(module, config), server_for(config), time.monotonic()
    died, journal, stop_offset = None, ({}, None), None
    try:
        server.start(timeout=60)
        died = ask(server, run, timeout)
        if died:  # the master's line about it, so the log is whole
            wait_for_death(server)
        journal = read_journal(os.path.join(server.tmp, JOURNAL))
        stop_offset = len(server.log())
    except AssertionError as e:  # from start(): uWSGI exited or never answered
        run.crash = {"what": "no start", "cause": str(e),
                     "excerpt": server.log().splitlines()[-EXCERPT_TAIL:]}
    finally:
        server.close()
        run.wall = time.monotonic() - started
    if died == "during the tests":  # no answer: what the journal saw end is what ran
        run.outcomes = journal[0]
    crash = None if stop_offset is None else (
        find_crash(server.log(), died, stop_offset) or other_trouble(run, server.log()))
    if crash or run.crash:
        run.crash = {"signal": None, "excerpt": [], "phase": died, **(crash or {}),
                     "test": journal[1], **(run.crash or {}),
                     "log": keep_log(server, logs, module, config)}
    elif logs:
        keep_log(server, logs, module, config)
    return run


def other_trouble(run, log):
    """A sanitizer's report (make test-sanitize runs this too), or a module
    that ran no test at all (its import failed): None when neither."""
    reports = sanitizer_reports(log)
    if reports:
        return {"what": "sanitizer", "cause": reports[0], "excerpt": reports[:20]}
    if not set(run.outcomes) - {run.module} and not run.crash:
        return {"what": "no tests", "cause": run.reasons.get(run.module, "nothing ran")}
    return None


def wait_for_death(server):
    try:
        wait_until(lambda: DIED.search(server.log()), 30, "the master to reap the worker")
    except AssertionError:
        pass  # find_crash says a connection was lost and nothing died


def ask(server, run, timeout):
    """GET /run, then checks the worker that answered was a worker and is
    still alive. Returns None, or a phase in which the worker died."""
    started = time.monotonic()
    try:
        status, body = server.get(f"/run?module={run.module}", timeout=timeout)
    except TimeoutError:
        run.seconds = time.monotonic() - started
        abort_worker(server)
        run.crash = {"what": "hang",
                     "cause": f"no answer after {timeout} s; SIGABRT sent for its stacks"}
        return "during the tests"
    except (OSError, http.client.HTTPException):
        run.seconds = time.monotonic() - started
        return "during the tests"
    run.seconds = time.monotonic() - started
    if status != 200:
        run.crash = {"what": "bad answer", "cause": f"/run answered {status}: {body[:300]!r}"}
        return None
    answer = json.loads(body)
    run.outcomes, run.reasons = answer["outcomes"], answer["reasons"]
    workers = [pid for pid, _ in server.worker_requests().values()]
    if answer["pid"] == server.proc.pid or answer["pid"] not in workers:
        run.crash = {"what": "bad answer",
                     "cause": f"the tests ran in pid {answer['pid']}, not a worker {workers}"}
    try:  # one worker, one core: this waits for the run's after-request hooks
        alive = server.get("/")[1].split()[-1] == str(answer["pid"]).encode()
    except (OSError, http.client.HTTPException):
        alive = False
    return None if alive else "after the response"


def abort_worker(server):
    """SIGABRT to a hung worker: faulthandler writes every thread's stack."""
    for pid, _ in server.worker_requests().values():
        if pid > 0:
            os.kill(pid, signal.SIGABRT)


def read_journal(path):
    """({test id: last outcome}, the last test started) from app.py's journal."""
    outcomes, started = {}, None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                word, _, test_id = line.rstrip("\n").partition(" ")
                if word == "start":
                    started = test_id
                else:
                    outcomes[test_id] = word
    except FileNotFoundError:
        pass
    return outcomes, started


def find_crash(log, phase, stop_offset):
    """What the log says of a dead worker: None when none died. phase is
    where ask() saw it die (None if it did not): otherwise a death logged
    before the stop was after the response, after it at shutdown."""
    marks = [m.start() for m in (DIED.search(log), FATAL.search(log), UWSGI_FAULT.search(log))
             if m]
    if not marks and phase is None:
        return None
    if not marks:
        return {"what": "lost", "phase": phase, "signal": None, "excerpt": [],
                "cause": "the connection closed without an answer and no worker died"}
    if phase is None:
        phase = "at shutdown" if min(marks) >= stop_offset else "after the response"
    fatal = [l for l in FATAL.findall(log) if l not in SIGNAL_NAMES]
    return {"what": "crash", "phase": phase, "signal": signal_of(log),
            "cause": "; ".join(dict.fromkeys(fatal)), "excerpt": excerpt(log, min(marks))}


def signal_of(log):
    """The signal that ended the worker: the master's word first, then the
    name faulthandler or uWSGI's own handler printed. None if no signal."""
    died = DIED.search(log)
    if died and (died[2] or died[3]):
        return int(died[2] or died[3])
    for pattern in (FATAL, UWSGI_FAULT):
        for name in pattern.findall(log):
            if name in SIGNAL_NAMES:
                return int(SIGNAL_NAMES[name])
    return None


def signal_name(number):
    if number is None:
        return "no signal"
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return f"signal {number}"


def excerpt(log, offset):
    """The log from the first sign of death to the master's line about it."""
    lines = log[offset:].splitlines()
    end = next((i for i, l in enumerate(lines) if DIED.match(l)), len(lines) - 1)
    lines = lines[:end + 1]
    if len(lines) > EXCERPT_HEAD + EXCERPT_TAIL + 1:  # never "... (1 lines)"
        cut = len(lines) - EXCERPT_HEAD - EXCERPT_TAIL
        lines = lines[:EXCERPT_HEAD] + [f"... ({cut} lines)"] + lines[-EXCERPT_TAIL:]
    return lines


def keep_log(server, logs, module, config):
    """Copies the instance's log to logs/ (None when logs is None)."""
    if logs is None:
        return None
    os.makedirs(logs, exist_ok=True)
    path = os.path.join(logs, f"{module}.{config}.log")
    with open(path, "w") as f:
        f.write(server.log())
    return os.path.relpath(path, ROOT)


def differences(base, run):
    """[(test id, baseline outcome, run's outcome)] where they differ. A
    run that died is judged on the tests it finished (its death is
    reported on its own); the test it died in is not judged."""
    if base is None or base.crash or run is base:
        return []
    tests = set(run.outcomes)
    if run.crash:
        tests.discard(run.crash.get("test"))
    else:
        tests |= set(base.outcomes)
    return [(t, base.outcomes.get(t, "absent"), run.outcomes.get(t, "absent"))
            for t in sorted(tests) if base.outcomes.get(t) != run.outcomes.get(t)]


def baseline_failures(base):
    """[(test id, outcome)] the baseline itself does not pass."""
    if base is None:
        return []
    return [(t, o) for t, o in sorted(base.outcomes.items()) if o not in PASSING]


def verdict(runs):
    """(crashes, differences): the Runs that died, hung or answered wrong,
    and [(Run, test, baseline outcome, its outcome)]. runs is
    {module: {config: Run}}; the run passes when both are empty."""
    crashes = [r for by_config in runs.values() for r in by_config.values() if r.crash]
    diffs = [(r, *d) for by_config in runs.values() for r in by_config.values()
             for d in differences(by_config.get("baseline"), r)]
    return crashes, diffs


def counts(outcomes):
    """'pass/fail/skip': pass counts expected failures, fail counts errors
    and unexpected successes."""
    values = list(outcomes.values())
    passed = values.count("pass") + values.count("xfail")
    return f"{passed}/{len(values) - passed - values.count('skip')}/{values.count('skip')}"


def cell(run):
    if run is None:
        return "-"
    if not run.crash:
        return counts(run.outcomes)
    number = run.crash["signal"]
    if run.crash["what"] == "crash":  # a worker that exited without a signal: "CRASH exit"
        return "CRASH " + (signal_name(number).split(" (")[0] if number else "exit")
    return run.crash["what"].upper()


def table(runs, configs):
    head = f"{'module':<20} {'tests':>6}  " + "".join(f"{c:<15}" for c in configs)
    head += f"{'differ':>6}  seconds {'/'.join(configs)}"
    lines = [head, "-" * len(head)]
    for module, by_config in runs.items():
        tests = max(len(r.outcomes) for r in by_config.values())
        base = by_config.get("baseline")
        differ = sum(len(differences(base, r)) for r in by_config.values())
        seconds = "/".join(f"{by_config[c].seconds:.1f}" if c in by_config else "-"
                           for c in configs)
        lines.append(f"{module:<20} {tests:>6}  "
                     + "".join(f"{cell(by_config.get(c)):<15}" for c in configs)
                     + f"{differ:>6}  {seconds}")
    walls = ", ".join(f"{c} {minutes(sum(m[c].wall for m in runs.values() if c in m))}"
                      for c in configs)
    lines.append(f"wall time per configuration (uWSGI start to stop, summed): {walls}")
    return lines


def minutes(seconds):
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.1f} s"


def crash_lines(run):
    c = run.crash
    head = f"{c['what'].upper()} {run.module} in {run.config}"
    if c.get("phase"):  # a worker died or hung
        head += (f": {signal_name(c['signal'])}, {c['phase']}"
                 f"; {len(run.outcomes)} tests ended before")
        if c.get("test"):
            head += f"; the last one started: {c['test']}"
    lines = [head]
    if c.get("cause"):
        lines.append(f"  cause: {c['cause']}")
    if c.get("log"):
        lines.append(f"  log: {c['log']}")
    return lines + [f"  | {l}" for l in c["excerpt"]]


def report(runs, configs):
    crashes, diffs = verdict(runs)
    lines = table(runs, configs) + [""]
    lines.append(f"Runs that died, hung or did not run their tests: {len(crashes)}")
    for run in crashes:
        lines += crash_lines(run)
    lines.append(f"Tests whose outcome differs from the baseline: {len(diffs)}")
    for run, test, base, other in diffs:
        reason = run.reasons.get(test, "")
        lines.append(f"  {run.config}: {test}: baseline {base}, {run.config} {other}"
                     + (f": {reason}" if reason else ""))
    failing = [(m, t, o, r.reasons.get(t, "")) for m, by_config in runs.items()
               if (r := by_config.get("baseline")) for t, o in baseline_failures(r)]
    lines.append(f"Tests that do not pass in the baseline either (reported, not judged): "
                 f"{len(failing)}")
    lines += [f"  {t}: {o}" + (f": {reason}" if reason else "") for _, t, o, reason in failing]
    verdict_line = (f"torture: FAILED: {len(crashes)} runs died, hung or did not run their "
                    f"tests; {len(diffs)} tests differ from the baseline"
                    if crashes or diffs else
                    "torture: passed: every test has the baseline's outcome, no worker died")
    return lines + [verdict_line]


def versions():
    """One line naming what ran: the test suite, uWSGI and the plugin."""
    suite = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}",
                            f"libpython{sys.version_info[0]}.{sys.version_info[1]}-testsuite"],
                           capture_output=True, text=True).stdout
    uwsgi = subprocess.run([UWSGI, "--version"], capture_output=True, text=True).stdout
    return f"{suite or 'no testsuite package'}, uWSGI {uwsgi.strip()}, plugin {PLUGIN}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", nargs="+", default=MODULES)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per module")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "torture"))
    args = ap.parse_args(argv)
    runs, total = {}, len(args.modules) * len(args.configs)
    for done, (module, config) in enumerate(itertools.product(args.modules, args.configs), 1):
        run = run_one(module, config, args.timeout, os.path.join(args.out, "logs"))
        runs.setdefault(module, {})[config] = run
        print(f"[{done}/{total}] {module} {config}: {cell(run)} in {run.seconds:.1f} s",
              flush=True)
    print(f"\n{versions()}\n" + "\n".join(report(runs, args.configs)))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({m: {c: dataclasses.asdict(r) for c, r in by_config.items()}
                   for m, by_config in runs.items()}, f, indent=1)
    crashes, diffs = verdict(runs)
    return 1 if crashes or diffs else 0


if __name__ == "__main__":
    sys.exit(main())

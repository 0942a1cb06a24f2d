#!/usr/bin/python3
"""make matrix: leakwatch built and tested on the Pythons and uWSGI builds
people run, each in a Debian root tree made with debootstrap.

    tests/matrix/matrix.py [LEG ...] [--plan full|ci] [--list]

Legs (all by default):
  trixie      Debian 13's python3 under its uWSGI and python3 plugin
  sid         unstable's python3 under its uWSGI and python3 plugin
  sid-3.13    unstable's python3.13 under a python313 plugin built here from
  sid-3.15    (and python3.15, python315) Debian's uWSGI plugin sources, as
              Debian builds its own (uwsgi --build-plugin, uwsgi-src)
  monolithic  Debian 13's python3.13 compiled into a uWSGI built from Debian's
              uWSGI source package (what `pip install uwsgi` makes); leakwatch
              built by `make` and by `uwsgi --build-plugin`, a leak run
              through each

The trees live in build/matrix/<suite>/ (or $LEAKWATCH_MATRIX_DIR/<suite>/)
and are reused: a tree is complete once its stamp (.leakwatch-matrix, the
last file written) is there; one without it is a half-made tree, removed
and made again; one whose stamp lists fewer packages gets the missing ones.
Everything comes from Debian's archive. For each run /proc, /dev and /sys
are mounted in the tree and always unmounted after (on failure and on
interrupt too, when leftover processes inside the tree are killed by
PID first); the checkout's files (git ls-files, as they are on disk) are
copied to /src in the tree, afresh for each leg.

A leg that cannot be set up (a package gone from the archive, a plugin that
does not build) fails like a test; none is skipped. The run ends with one
line per leg and one "N passed, N failed" line counting legs; details are
in build/matrix/logs/<leg>.log and build/matrix/results.json. Exit status
1 when any leg failed.
"""
import argparse
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MIRROR = "http://deb.debian.org/debian"
STAMP = ".leakwatch-matrix"
WORK = "/opt/leakwatch-matrix"  # inside a tree: what the legs build (plugins, uWSGI)
MONOLITHIC = f"{WORK}/uwsgi-monolithic/uwsgi"

# What every tree gets: the Makefile's DEPS and UNIT_DEPS, uWSGI's plugin
# sources, and what Debian's minimal tree lacks for the tests (ps, nm).
PACKAGES = ["uwsgi-core", "uwsgi-dev", "uwsgi-plugin-python3", "uwsgi-src", "python3-dev",
            "libjansson-dev", "gcc", "make", "pkg-config", "libcmocka-dev",
            "binutils", "procps", "ca-certificates"]
# The frameworks no one here wrote, from the tree's own Debian: every plan
# runs them in the legs marked `frameworks` (one per CPython the matrix has).
FRAMEWORK_PACKAGES = ["python3-flask", "python3-sqlalchemy", "python3-django"]
# And for the full plan, the rest of TEST_DEPS and EVAL_DEPS: what `make
# test` (test_http, test_drills, test_prometheus_rules) uses, which the CI
# plan runs on the machine itself, not in the trees; Chromium and
# Prometheus are most of a tree's download. Without recommends, so
# Chromium gets a font.
FULL_PLAN_PACKAGES = ["prometheus", "chromium", "fonts-liberation", "wrk"] + FRAMEWORK_PACKAGES
# CPython's test suite for the tree's python3, whichever it is (make test's
# torture-deps): named once python3 is in.
PYTHON3_TESTSUITE = "libpython3.X-testsuite"
# The monolithic build: `apt-get source` needs dpkg-dev; uWSGI's default
# profile compiles its gzip transformation (zlib) and, where found, PCRE
# routing and TLS, as pip's build does on a machine that has them.
MONOLITHIC_PACKAGES = ["dpkg-dev", "zlib1g-dev", "libpcre2-dev", "libssl-dev"]


@dataclasses.dataclass
class Leg:
    name: str
    suite: str
    python: str        # the interpreter, as /usr/bin/<python>
    plugin: str        # uWSGI's python plugin: Debian's python3, one built here, "" (none)
    what: str
    # also builds, installs and purges the package (test_deb); `make deb`
    # installs the tools it needs (DEB_DEPS) itself, as on a fresh machine
    deb: bool = False
    # also serves Django, Flask and SQLAlchemy apps (CI_FRAMEWORKS): one leg
    # per CPython, with the frameworks Debian ships for it
    frameworks: bool = False

    @property
    def built_plugin(self):  # a python plugin built here from uwsgi-src
        return self.plugin not in ("python3", "")

    @property
    def monolithic(self):
        return self.plugin == ""


LEGS = [
    Leg("trixie", "trixie", "python3", "python3", "Debian 13: python3, uWSGI, python3 plugin",
        deb=True, frameworks=True),
    Leg("sid", "sid", "python3", "python3", "unstable: python3, uWSGI, python3 plugin",
        frameworks=True),
    Leg("sid-3.13", "sid", "python3.13", "python313",
        "unstable: python3.13, plugin from uwsgi-src"),
    Leg("sid-3.15", "sid", "python3.15", "python315",
        "unstable: python3.15, plugin from uwsgi-src", frameworks=True),
    Leg("monolithic", "trixie", "python3.13", "", "Debian 13: python3.13 in a monolithic uWSGI"),
]

# What a leg runs. full: `make test` (unit and integration) and `make eval`.
# ci: what fits CI's 45 minutes next to `make test` on the machine itself:
# the unit tests, the integration modules whose outcome may change with
# CPython or uWSGI (frames, free lists, hooks, loading and building, the
# torture subset) and the leaks of the eval corpus that take different paths
# through CPython. The modules left out test the master's C (the HTTP page
# and Prometheus, drills under wrk, cgroups, metrics), the same on every
# Python, and run in `make test` on the machine itself. Debian 13's leg
# also builds the package there, installs it and purges it (test_deb).
CI_INTEGRATION = ["test_app_hooks", "test_build", "test_children", "test_cross_family",
                  "test_deaths", "test_detection", "test_engine", "test_evict", "test_holders",
                  "test_native", "test_plugin", "test_report", "test_torture", "test_versions"]
# What the frameworks legs add to the CI plan: a Django site's everyday
# traffic and a view that keeps model instances, leaks through SQLAlchemy's
# and dataclasses' generated constructors (integration), and make eval's
# Flask app of a logger per request, Django view and SQLAlchemy session.
CI_FRAMEWORKS = ["test_django", "test_generated"]
CI_FRAMEWORK_EVAL = ["leak_logger.py", "leak_django_orm.py", "leak_sqlalchemy.py"]
CI_EVAL = ["leak_class_list.py", "leak_contextvars.py", "leak_dynamic_classes.py",
           "leak_exception.py", "leak_native.py", "ok_cycles.py"]
# The monolithic leg's leak: the tests that run uWSGI with the plugin and a
# leaking app (no test that needs a plugin a monolithic uWSGI does not ship).
MONOLITHIC_TESTS = ["test_plugin.LoadingTest", "test_plugin.RefusalTest", "test_native",
                    "test_children"] + [
    "test_detection.DetectionTest." + t for t in (
        "test_a_leak_is_announced_at_its_line",
        "test_a_logger_per_request_is_named_at_the_application_line")]


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted(f"signal {signum}")


def log(msg):
    print(f"matrix: {msg}", flush=True)


def run(cmd, out, **kw):
    """Runs cmd, its output appended to the file out and echoed; returns its status."""
    out.write(f"$ {' '.join(shlex.quote(c) for c in cmd)}\n")
    out.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, **kw)
    try:
        for line in proc.stdout:
            text = line.decode(errors="replace")
            out.write(text)
            sys.stdout.write(text)
            sys.stdout.flush()  # CI's log shows a leg as it goes
    except BaseException:  # interrupted: debootstrap or chroot goes too
        proc.kill()
        proc.wait()
        raise
    out.flush()
    return proc.wait()


# ----- mounts ---------------------------------------------------------------

def mounts_under(tree):
    """Mount points at or below tree, deepest first."""
    tree = os.path.realpath(tree)
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(tree + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def processes_in(tree):
    """PIDs of processes whose root is tree: those a leg started in it."""
    tree = os.path.realpath(tree)
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/root") == tree:
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def release(tree):
    """Kills what still runs inside tree and unmounts everything below it.
    Raises if a mount stays (then nothing may remove the tree)."""
    for pid in processes_in(tree):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for point in mounts_under(tree):
        if subprocess.run(["umount", point], stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["umount", "-l", point])
    left = mounts_under(tree)
    if left:
        raise RuntimeError(f"still mounted: {' '.join(left)}")


class Mounted:
    """/proc, /dev and /sys mounted in tree for the block, unmounted after."""

    def __init__(self, tree):
        self.tree = tree

    def __enter__(self):
        release(self.tree)  # what a run that was killed left mounted
        try:
            for cmd in (["mount", "-t", "proc", "proc", "proc"],
                        ["mount", "--rbind", "/dev", "dev"], ["mount", "--make-rslave", "dev"],
                        ["mount", "--rbind", "/sys", "sys"], ["mount", "--make-rslave", "sys"]):
                *head, target = cmd
                subprocess.run(head + [os.path.join(self.tree, target)], check=True)
        except BaseException:
            release(self.tree)
            raise
        return self

    def __exit__(self, *exc):
        release(self.tree)


def chroot(tree, script, out, env=()):
    """Runs a shell script in tree with a clean environment; returns its status."""
    base = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
            "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "TERM=dumb"]
    return run(["chroot", tree, "/usr/bin/env", "-i", *base, *env, "/bin/sh", "-ec", script],
               out)


# ----- trees ----------------------------------------------------------------

def suite_packages(suite, legs, plan):
    """What a suite's tree needs for the legs that run in it under plan."""
    packages = list(PACKAGES) + [PYTHON3_TESTSUITE]
    if plan == "full":
        packages += FULL_PLAN_PACKAGES
    if any(leg.frameworks for leg in legs):
        packages += FRAMEWORK_PACKAGES
    for leg in legs:
        if leg.python != "python3":
            packages += [f"{leg.python}-dev", f"lib{leg.python}-testsuite"]
        if leg.monolithic:
            packages += MONOLITHIC_PACKAGES
    return sorted(set(packages))


def read_stamp(tree):
    try:
        with open(os.path.join(tree, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ensure_tree(tree, suite, packages, out):
    """Makes or completes the tree; returns what was done and how long it took."""
    stamp = read_stamp(tree)
    times = {}
    if stamp is None:
        if os.path.exists(tree):
            log(f"{tree} has no stamp: a half-made tree, removed")
            release(tree)
            subprocess.run(["rm", "-rf", "--one-file-system", tree], check=True)
        os.makedirs(os.path.dirname(tree), exist_ok=True)
        log(f"debootstrap {suite} into {tree}")
        start = time.monotonic()
        rc = run(["debootstrap", "--variant=minbase", suite, tree, MIRROR], out)
        if rc != 0:
            raise SetupError(f"debootstrap {suite} failed ({rc})")
        times["debootstrap"] = time.monotonic() - start
        configure_tree(tree, suite)
        stamp = {"suite": suite, "packages": []}
    missing = sorted(set(packages) - set(stamp["packages"]))
    if missing:
        log(f"{suite}: installing {' '.join(missing)}")
        start = time.monotonic()
        named = [p for p in missing if p != PYTHON3_TESTSUITE]
        script = ("apt-get update -qq\n"
                  f"apt-get install -y -qq --no-install-recommends {' '.join(named)} >/dev/null\n")
        if PYTHON3_TESTSUITE in missing:
            script += ("v=$(python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])')\n"
                       "apt-get install -y -qq --no-install-recommends "
                       "libpython$v-testsuite >/dev/null\n")
        with Mounted(tree):
            rc = chroot(tree, script, out)
        if rc != 0:
            raise SetupError(f"{suite}: apt-get install failed ({rc}): {' '.join(missing)}")
        times["install"] = time.monotonic() - start
        stamp["packages"] = sorted(set(stamp["packages"]) | set(missing))
        tmp = os.path.join(tree, STAMP + ".tmp")
        with open(tmp, "w") as f:
            json.dump(stamp, f)
        os.rename(tmp, os.path.join(tree, STAMP))
    return times


def configure_tree(tree, suite):
    """Debian's archive with its sources, no services started, no docs."""
    with open(os.path.join(tree, "etc/apt/sources.list"), "w") as f:
        f.write(f"deb {MIRROR} {suite} main\ndeb-src {MIRROR} {suite} main\n")
    # the archive reachable here may be a mirror frozen at some date: unstable's
    # Release file, valid for a week, would be refused as expired
    with open(os.path.join(tree, "etc/apt/apt.conf.d/99leakwatch-matrix"), "w") as f:
        f.write('Acquire::Check-Valid-Until "false";\n')
    shutil.copy("/etc/resolv.conf", os.path.join(tree, "etc/resolv.conf"))
    with open(os.path.join(tree, "usr/sbin/policy-rc.d"), "w") as f:
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(os.path.join(tree, "usr/sbin/policy-rc.d"), 0o755)
    with open(os.path.join(tree, "etc/dpkg/dpkg.cfg.d/leakwatch-matrix"), "w") as f:
        f.write("path-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\n"
                "path-exclude=/usr/share/locale/*\n")


class SetupError(Exception):
    pass


def copy_sources(tree):
    """The checkout's tracked files, as they are on disk, into tree's /src."""
    dst = os.path.join(tree, "src")
    subprocess.run(["rm", "-rf", "--one-file-system", dst], check=True)
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], stdout=subprocess.PIPE,
                           check=True).stdout.decode().split("\0")
    for name in files:
        src = os.path.join(ROOT, name)
        if not name or not os.path.lexists(src):
            continue
        os.makedirs(os.path.join(dst, os.path.dirname(name)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, name), follow_symlinks=False)


# ----- legs -----------------------------------------------------------------

def make_vars(leg):
    """The Makefile's variables that point the build at the leg's Python and
    uWSGI: none where the Makefile finds them itself (Debian's python3
    plugin, a monolithic uWSGI's own libpython)."""
    if leg.built_plugin:
        return [f"PYTHON=/usr/bin/{leg.python}"]
    return [f"UWSGI={MONOLITHIC}"] if leg.monolithic else []


def test_env(leg, plugin=None):
    """What tells the tests (tests/integration/harness.py) which uWSGI,
    python plugin and interpreter they run."""
    env = [f"LEAKWATCH_PY_PLUGIN={leg.plugin}", f"LEAKWATCH_PYTHON=/usr/bin/{leg.python}"]
    if leg.monolithic:
        env.append(f"LEAKWATCH_UWSGI={MONOLITHIC}")
    if plugin:
        env.append(f"LEAKWATCH_PLUGIN={plugin}")
    return env


def setup_script(leg):
    """Shell run in the tree before the leg's tests: the python plugin or the
    monolithic uWSGI the leg needs, then one line of versions."""
    python = f"/usr/bin/{leg.python}"
    lines = [f"test -x {python} || {{ echo '{python} is not installed'; exit 1; }}"]
    if leg.built_plugin:
        # as Debian's uwsgi-plugin-python3 builds its own (debian/rules)
        lines += [f"rm -rf {WORK}/{leg.plugin} && mkdir -p {WORK}/{leg.plugin}",
                  f"cd {WORK}/{leg.plugin}",
                  f"PYTHON={python} uwsgi --build-plugin "
                  f"'/usr/src/uwsgi/plugins/python {leg.plugin}' > build.log 2>&1"
                  " || { tail -40 build.log; exit 1; }",
                  f"cp {leg.plugin}_plugin.so /usr/lib/uwsgi/plugins/"]
    if leg.monolithic:
        lines += [f"if ! test -x {MONOLITHIC}; then",
                  f"  rm -rf {WORK}/uwsgi-source && mkdir -p {WORK}/uwsgi-source",
                  f"  cd {WORK}/uwsgi-source && apt-get source -qq uwsgi",
                  # uWSGI's own build with its default profile, as pip runs it
                  f"  cd uwsgi-*/ && {python} uwsgiconfig.py --build > build.log 2>&1"
                  " || { tail -40 build.log; exit 1; }",
                  f"  mkdir -p {os.path.dirname(MONOLITHIC)} && cp uwsgi {MONOLITHIC}",
                  "fi"]
    uwsgi = MONOLITHIC if leg.monolithic else "uwsgi"
    plugin = f"--plugin {leg.plugin} " if leg.plugin else ""
    debian = "" if leg.monolithic else " $(dpkg-query -W -f '(${Version})' uwsgi-core)"
    lines += ["cd /tmp && echo 'import sys; print(\"python\", sys.version.split()[0])' > v.py",
              f"{python} -c 'import sys; print(\"interpreter\", sys.version.split()[0])'",
              f"echo uwsgi $({uwsgi} --version){debian}",
              # what the uWSGI runs: the plugin's interpreter must be the leg's
              f"{uwsgi} {plugin}--pyrun /tmp/v.py 2>&1 | grep '^python ' | tail -1"]
    return "\n".join(lines)


def steps(leg, plan):
    """(name, script, env) the leg runs in /src, in order. Scripts run on
    the tree's python3, as the Makefile runs them."""
    vars_ = " ".join(make_vars(leg))
    if leg.monolithic:
        only = "tests/run.py --integration --only " + " ".join(MONOLITHIC_TESTS)
        return [
            ("build (make)", f"make {vars_}", []),
            ("leak (make's plugin)", f"python3 {only}", test_env(leg, "/src/leakwatch_plugin.so")),
            ("build (uwsgi --build-plugin /src)",
             "rm -rf /tmp/build-plugin && mkdir /tmp/build-plugin && cd /tmp/build-plugin && "
             f"PYTHON=/usr/bin/{leg.python} {MONOLITHIC} --build-plugin /src && "
             "ls -l leakwatch_plugin.so", []),
            ("leak (--build-plugin's plugin)", f"python3 {only}",
             test_env(leg, "/tmp/build-plugin/leakwatch_plugin.so")),
        ]
    out = [("build (make)", f"make {vars_}", [])]
    if plan == "full":
        out.append(("unit + integration (make test)", f"make test {vars_}", test_env(leg)))
    else:
        out.append(("unit (make unit)", f"make unit {vars_}", []))
        out.append(("integration (subset)",
                    f"python3 tests/run.py --integration --only {' '.join(CI_INTEGRATION)}",
                    test_env(leg)))
    if plan == "full":
        out.append(("eval (make eval)", f"make eval {vars_}", test_env(leg)))
    else:
        out.append(("eval (subset)", f"python3 tests/eval/eval.py {' '.join(CI_EVAL)}",
                    test_env(leg)))
        if leg.frameworks:  # make test and make eval run them in the full plan
            out.append(("frameworks (Django, SQLAlchemy, dataclasses)",
                        "python3 tests/run.py --integration --no-skip --only "
                        + " ".join(CI_FRAMEWORKS), test_env(leg)))
            out.append(("frameworks (eval: Flask, Django, SQLAlchemy)",
                        f"python3 tests/eval/eval.py {' '.join(CI_FRAMEWORK_EVAL)}",
                        test_env(leg)))
        if leg.deb:  # make test runs it in the full plan; here it may not skip
            out.append(("package (make deb, install, purge)",
                        "python3 tests/run.py --integration --no-skip --only test_deb",
                        test_env(leg)))
    return out


TOTAL = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", re.M)
EVAL = re.compile(r"^(\d+) leaks: (\d+) missed or misplaced, .*; (\d+) false alarms(?:;.*)?$", re.M)
VERSION = re.compile(r"^(interpreter|uwsgi|python) (.*)$", re.M)


def summarize(output):
    """The counts a step's output ends with, as one short phrase."""
    totals = TOTAL.findall(output)
    if totals:
        p, f, s = totals[-1]
        return f"{p} passed, {f} failed" + (f", {s} skipped" if s else "")
    m = EVAL.findall(output)
    if m:
        leaks, missed, false = m[-1]
        return f"{leaks} leaks, {missed} missed, {false} false alarms"
    return ""


class Tee:
    """A log file that also keeps what was written since mark()."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.since = []

    def write(self, text):
        self.f.write(text)
        self.since.append(text)

    def flush(self):
        self.f.flush()

    def mark(self):
        text, self.since = "".join(self.since), []
        return text


def run_leg(leg, tree, plan, out):
    result = {"leg": leg.name, "suite": leg.suite, "what": leg.what, "steps": [], "ok": False}
    copy_sources(tree)
    log(f"== {leg.name}: setup ({leg.what})")
    out.mark()
    start = time.monotonic()
    rc = chroot(tree, setup_script(leg), out)
    result["setup_seconds"] = round(time.monotonic() - start)
    text = out.mark()
    for key, value in VERSION.findall(text):
        result[key] = value.strip()
    if rc != 0:
        result["error"] = f"setup failed ({rc})"
        return result
    if result.get("python") != result.get("interpreter"):
        result["error"] = (f"uWSGI runs Python {result.get('python')}, "
                           f"not the leg's {result.get('interpreter')}")
        return result
    ok = True
    for name, script, env in steps(leg, plan):
        log(f"== {leg.name}: {name}")
        start = time.monotonic()
        rc = chroot(tree, f"cd /src\n{script}", out, env)
        seconds = round(time.monotonic() - start)
        summary = summarize(out.mark())
        result["steps"].append({"step": name, "status": rc, "seconds": seconds,
                                "summary": summary})
        log(f"== {leg.name}: {name}: {'ok' if rc == 0 else f'FAILED ({rc})'}"
            f"{', ' + summary if summary else ''}, {seconds}s")
        if rc != 0:
            ok = False
            if name.startswith("build"):
                break  # nothing to test
    result["ok"] = ok
    return result


def host_deps():
    if shutil.which("debootstrap"):
        return
    log("installing debootstrap")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def report(results):
    print("\nleg         python   uWSGI                  setup  steps")
    for r in results:
        uwsgi = r.get("uwsgi", "-")
        steps_ = "; ".join(f"{s['step']}: {'ok' if s['status'] == 0 else 'FAILED'}"
                           f"{' (' + s['summary'] + ')' if s['summary'] else ''} {s['seconds']}s"
                           for s in r["steps"])
        if r.get("error"):
            steps_ = (steps_ + "; " if steps_ else "") + r["error"]
        setup = sum(r.get("tree_seconds", {}).values()) + r.get("setup_seconds", 0)
        print(f"{r['leg']:11} {r.get('python', '-'):8} {uwsgi:22} {setup:4.0f}s  "
              f"{'ok' if r['ok'] else 'FAILED'}: {steps_}")
    passed = sum(1 for r in results if r["ok"])
    print(f"matrix: {passed} passed, {len(results) - passed} failed")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("legs", nargs="*", help="legs to run (default: all)")
    ap.add_argument("--plan", choices=["full", "ci"], default="full",
                    help="full: make test and make eval in every leg; ci: what fits CI")
    ap.add_argument("--list", action="store_true", help="list the legs and exit")
    args = ap.parse_args(argv)
    if args.list:
        for leg in LEGS:
            print(f"{leg.name:11} {leg.what}")
        return 0
    unknown = set(args.legs) - {leg.name for leg in LEGS}
    if unknown:
        ap.error(f"no such leg: {' '.join(sorted(unknown))} (see --list)")
    legs = [leg for leg in LEGS if not args.legs or leg.name in args.legs]
    if os.geteuid() != 0:
        log("needs root (debootstrap, mount, chroot)")
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    base = os.environ.get("LEAKWATCH_MATRIX_DIR") or os.path.join(ROOT, "build", "matrix")
    os.makedirs(os.path.join(base, "logs"), exist_ok=True)
    host_deps()
    results = []
    started = time.monotonic()
    try:
        for suite in dict.fromkeys(leg.suite for leg in legs):
            tree = os.path.join(base, suite)
            suite_legs = [leg for leg in legs if leg.suite == suite]
            out = Tee(os.path.join(base, "logs", f"{suite}-tree.log"))
            try:
                packages = suite_packages(suite, suite_legs, args.plan)
                tree_seconds = ensure_tree(tree, suite, packages, out)
                error = None
            except (SetupError, subprocess.CalledProcessError, RuntimeError) as e:
                tree_seconds, error = {}, f"tree: {e}"
                log(error)
            for leg in suite_legs:
                if error:
                    results.append({"leg": leg.name, "steps": [], "ok": False, "error": error})
                    continue
                out = Tee(os.path.join(base, "logs", f"{leg.name}.log"))
                with Mounted(tree):
                    result = run_leg(leg, tree, args.plan, out)
                result["tree_seconds"] = {k: round(v) for k, v in tree_seconds.items()}
                tree_seconds = {}  # counted once, in the suite's first leg
                results.append(result)
    except (Interrupted, KeyboardInterrupt) as e:
        log(f"interrupted ({e or 'SIGINT'}): trees unmounted")
        return 130
    finally:
        with open(os.path.join(base, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    report(results)
    log(f"{time.monotonic() - started:.0f}s in all; logs in {os.path.join(base, 'logs')}")
    return 0 if results and all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""make eval: leakwatch's detection quality, measured on a labelled corpus.

Each app in tests/eval/apps is a small WSGI or Flask app with a label on
its first lines:

    # EVAL {"expect": "leak", "threshold": "256k", "paths": ["/?id={n}"]}

`expect` is "leak" (the lines marked `# LEAK-LINE` are where it leaks; an
alert naming any of them names the right site), "native" (a leak outside
Python's allocator: a NATIVE line is the right alert) or "none" (growth
that stops, or none: any LEAK, NATIVE or OOM line is a false alarm).
Optional keys: "known_limit" (why this app shows a limit of the detector:
its result is listed apart and does not fail the run), "args" (extra
uWSGI options), "processes" (default 2),
"requests" (a no-leak app's run, default 20,000), "rate" (bytes per
request, for native leaks that tracemalloc cannot see), "endpoint" (the
path the alert's endpoints line must name first), "full_speed" (also serve
it as fast as CONCURRENCY clients can send, without pausing for the
analyst: a second row, "(full speed)", for detection that must not depend
on the request rate), "holder" (a regular expression the HELD line's
"held by:" text must match: the walk named the right holder; the
"holder" column says yes, NO, "none" when no HELD line came within
HOLDER_REQUESTS more requests, "-" for an app without one).

For a leak the runner first measures, in a plain interpreter under
tracemalloc, how many bytes one request of the same sequence leaks
(calibrate.py): the ground truth. Then it serves the app from real uWSGI
with the built plugin, sends the sequence in small batches and looks at
the log after each; the first alert fixes the requests served and so the
bytes leaked at that moment after warm-up (the workers' first requests,
20 each by default, are not judged), printed as a multiple of the
threshold: "in all" for every line of the leak, "at site" for the lines
the alert names.

Exit status: 0 when every leak was found at a marked site and no app got
an alert it should not have; 1 otherwise. Never judged on time.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import PYTHON, UWSGI, Server  # noqa: E402
import paths  # noqa: E402

APPS = os.path.join(HERE, "apps")
ALERT = re.compile(r"^\[leakwatch\] (LEAK|NATIVE|OOM) (.*)$")
HELD = re.compile(r"^\[leakwatch\] HELD .+? on \w+ \d+ pid \d+: held by: (.*)$", re.M)
HOLDER_REQUESTS = 400  # after the alert, at most this many more for the HELD line
LEAK_SITE = re.compile(r"^(.+):(\d+) in ")
PSEUDO_SITE = re.compile(r"^(<[^>]+>): ")  # "<no Python frame>", "<CPython free lists>"
SUM = re.compile(r"^(function .+\(\) in |file )")
SUM_LINES = re.compile(r"^\[leakwatch\]   grew at \d+ lines?: (.*)$")
LISTED = re.compile(r"(?:^|, )(.+?):(-?\d+) in \S+\(\)(?: via libraries)? \+")
NATIVE_REQUESTS = re.compile(r" over (\d+) requests ")
UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
CONCURRENCY = 4
WARMUP = 20  # the plugin's default warm-up, requests per worker (src/config.h)


class EvalServer(Server):
    """A Flask app may not serve "/": any answer short of a 5xx means up."""

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"uWSGI exited early with status {self.proc.returncode}")
        try:
            return self.get("/")[0] < 500
        except OSError:
            return False


def label(app):
    with open(os.path.join(APPS, app)) as f:
        head = f.read(4096)
    m = re.search(r"^# EVAL (\{.*\})$", head, re.M)
    if not m:
        sys.exit(f"{app}: no '# EVAL {{...}}' label")
    meta = json.loads(m[1])
    meta.setdefault("args", [])
    meta.setdefault("processes", 2)
    meta.setdefault("requests", 20000)
    meta.setdefault("threshold", "2M")
    return meta


def warmup(meta):
    """Requests a worker serves before its sites are judged (--leakwatch-warmup)."""
    args = meta["args"]
    return int(args[args.index("--leakwatch-warmup") + 1]) \
        if "--leakwatch-warmup" in args else WARMUP


def size(text):
    text = text.lower().rstrip("ib")
    return int(text[:-1]) * UNITS[text[-1]] if text[-1] in UNITS else int(text)


def marked_lines(app):
    with open(os.path.join(APPS, app)) as f:
        return {n for n, line in enumerate(f, 1) if "# LEAK-LINE" in line}


def env_behaviour(args):
    """How the uWSGI evaluated makes the WSGI environ: --wsgi-env-behaviour
    as given, else its version's default ("cheat" to 2.0, "holy" from 2.1)."""
    for opt in ("--wsgi-env-behaviour", "--wsgi-env-behavior"):
        if opt in args:
            return args[args.index(opt) + 1]
    version = subprocess.run([UWSGI, "--version"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.strip()
    major, minor = (int(n) for n in version.split(".")[:2])
    return "cheat" if (major, minor) < (2, 1) else "holy"


def calibrate(app, meta, args):
    """Bytes one request leaks, in all and per app line ({line: bytes}),
    measured under tracemalloc without uWSGI, in a working directory of
    its own as uWSGI's is (an app may keep files there: the Django apps'
    database), with the environ made as that uWSGI makes it (args: its
    options)."""
    if "rate" in meta:
        return float(meta["rate"]), {}
    with tempfile.TemporaryDirectory(prefix="leakwatch-calibrate-") as cwd:
        out = subprocess.run([PYTHON, os.path.join(HERE, "calibrate.py"),
                              os.path.join(APPS, app), json.dumps(meta["paths"]), "200",
                              str(meta.get("calibrate", 400)), env_behaviour(args)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=cwd, check=False)
    try:
        found = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        sys.exit(f"{app}: calibration failed:\n{out.stdout}")
    return found["total"], {int(n): b for n, b in found["lines"].items()}


def alerts(server):
    """(kind, (file, line) or None, text, lines): a LEAK names a line, or a
    sum (a function's or file's) whose lines follow, most grown first: the
    first of them is the site it names, all of them what it sums."""
    found = []
    log = server.log().splitlines()
    for i, line in enumerate(log):
        m = ALERT.match(line)
        if not m:
            continue
        site, lines = None, []
        if m[1] == "LEAK" and SUM.match(m[2]):
            listed = SUM_LINES.match(log[i + 1]) if i + 1 < len(log) else None
            lines = [(f, int(n)) for f, n in LISTED.findall(listed[1])] if listed else []
            site = lines[0] if lines else None
        elif m[1] == "LEAK":
            site = LEAK_SITE.match(m[2])
            pseudo = not site and PSEUDO_SITE.match(m[2])
            site = (site[1], int(site[2])) if site else (pseudo[1], 0) if pseudo else None
            lines = [site] if site else []
        found.append((m[1], site, line, tuple(lines)))
    return found


def endpoint_of_first_leak(server):
    lines = server.log().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("[leakwatch] LEAK") and i + 1 < len(lines):
            m = re.match(r"^\[leakwatch\]   endpoints: (\S+)", lines[i + 1])
            return m and m[1]
    return None


def drive(server, urls):
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(lambda u: server.get(u)[0], urls))
    bad = [s for s in statuses if s != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} requests failed (status {bad[0]})")


def settle(server, predicate, seconds=0.04):
    """The analyst looks every 2-20 ms: give it a few looks after a batch."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def run_leak(app, meta, server, rate, lines, threshold, full_speed=False):
    """Drives the app until an alert names one of its marked lines (or, for
    a native leak, a NATIVE line), or the request limit passes."""
    expected = marked_lines(app)
    path = os.path.join(APPS, app)
    wanted = "NATIVE" if meta["expect"] == "native" else "LEAK"
    also = set(meta.get("also", []))
    site_rate = max([lines.get(n, 0) for n in expected] + [1]) if lines else rate
    # batches small enough that the moment of the alert is known to 1/32 T
    batch = max(1, min(64, int(threshold / 32 / site_rate)))
    limit = meta.get("limit") or int(8 * threshold / site_rate) + 200 * meta["processes"]
    urls = paths.expand(meta["paths"], limit)

    def right():
        return [a for a in alerts(server) if a[0] == wanted and (
            wanted == "NATIVE" or (a[1] and a[1][0] == path and a[1][1] in expected))]

    sent = flat_out(server, urls, right) if full_speed else 0
    while not full_speed and sent < limit and not settle(server, right):
        drive(server, urls[sent:sent + batch])
        sent += batch
    found, hits = alerts(server), right()
    false = [a for a in found if a not in hits and a[0] != "OOM"
             and not (a[1] and a[1][0] in also)]
    row = {"verdict": found[0][0] if found else "missed", "correct": bool(hits),
           "false": len(false), "requests": sent if hits else None,
           "first": (false or found or [("", "", "", ())])[0][2]}
    if not hits:
        return row
    # what leaked after warm-up (the workers' first requests are not judged:
    # a leak of more than T in them is announced a few requests after)
    after = max(0, sent - warmup(meta) * meta["processes"])
    row["leaked"] = after * rate / threshold
    said = ALERT.match(hits[0][2])[2]
    row["named"] = "worker" if wanted == "NATIVE" else \
        "line" if not SUM.match(said) else said.split()[0]  # function, file
    # at site: what the alert names leaked (a sum: each of its listed lines)
    named = {n for f, n in hits[0][3] if f == path}
    row["site_leaked"] = after * sum(lines.get(n, 0) for n in named) / threshold \
        if lines and named & set(lines) else row["leaked"]
    if wanted == "NATIVE":  # at site: what the named worker leaked since its warm-up
        row["site_leaked"] = int(NATIVE_REQUESTS.search(said)[1]) * rate / threshold
    if "endpoint" in meta and wanted == "LEAK":
        row["correct"] = endpoint_of_first_leak(server) == meta["endpoint"]
    if "holder" in meta:
        row["holder"], row["held"] = holder(server, urls[sent:], batch, meta["holder"])
    return row


def holder(server, urls, batch, expected):
    """After the alert, the worker asked walks after one of its next
    requests: drives more of the sequence until the HELD line comes, then
    says whether it names the expected holder. Returns (column, text)."""
    sent = 0
    while True:
        found = HELD.search(server.log())
        if found or sent >= min(HOLDER_REQUESTS, len(urls)):
            break
        drive(server, urls[sent:sent + batch])
        sent += batch
        settle(server, lambda: HELD.search(server.log()))
    if not found:
        return "none", ""
    return ("yes" if re.search(expected, found[1]) else "NO"), found[1]


def flat_out(server, urls, right):
    """Sends urls as fast as CONCURRENCY clients can, never pausing, until
    right() holds (looked at every millisecond) or they run out; returns
    the requests answered when it first held (all of them if it never did).
    The count can be late by the answers of about a millisecond."""
    lock, stop = threading.Lock(), threading.Event()
    done, at = [0], [None]
    todo = iter(urls)

    def client():
        while not stop.is_set():
            with lock:
                url = next(todo, None)
            if url is None or server.get(url)[0] != 200:
                return
            with lock:
                done[0] += 1

    clients = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for c in clients:
        c.start()
    while any(c.is_alive() for c in clients):
        with lock:
            answered = done[0]
        if right():
            at[0] = answered
            break
        time.sleep(0.001)
    stop.set()
    for c in clients:
        c.join()
    settle(server, right, 0.5)
    return at[0] if at[0] is not None else done[0]


def run_none(app, meta, server):
    urls = paths.expand(meta["paths"], meta["requests"])
    for at in range(0, len(urls), 1000):
        drive(server, urls[at:at + 1000])
    settle(server, lambda: False, 0.5)  # let the analyst judge the last points
    found = alerts(server)
    return {"verdict": found[0][0] if found else "quiet", "correct": not found,
            "false": len(found), "requests": len(urls), "first": found[0][2] if found else ""}


def evaluate(app, extra=(), full_speed=False):
    meta = label(app)
    threshold = size(meta["threshold"])
    args = ["--leakwatch-threshold", meta["threshold"]] + meta["args"] + list(extra)
    rate, lines = calibrate(app, meta, args) if meta["expect"] != "none" else (0.0, {})
    server = EvalServer(os.path.join(APPS, app), args=args, processes=meta["processes"],
                    stats=False, summary=0)
    started = time.monotonic()
    try:
        server.start()
        if meta["expect"] == "none":
            row = run_none(app, meta, server)
        else:
            row = run_leak(app, meta, server, rate, lines, threshold, full_speed)
    except Exception as e:  # a dead worker or a refused start is a failure, shown
        row = {"verdict": f"error: {e}", "correct": False, "false": 0, "requests": None}
    finally:
        server.stop()
    row.update(app=app + (" (full speed)" if full_speed else ""), expect=meta["expect"],
               rate=rate, threshold=meta["threshold"],
               seconds=time.monotonic() - started, log=server.log_path)
    row["ok"] = row["correct"] and row["false"] == 0
    row["known"] = meta.get("known_limit")
    return row


def human(n):
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def table(rows):
    print(f"{'app':28} {'expect':6} {'rate/req':>10} {'T':>5} {'verdict':8} {'site':5} "
          f"{'named':8} {'requests':>8} {'at site':>7} {'in all':>7} {'false':>5} {'holder':6}  "
          f"result")
    for r in rows:
        leaked = f"{r['leaked']:.2f}T" if r.get("leaked") is not None else "-"
        at_site = f"{r['site_leaked']:.2f}T" if r.get("site_leaked") is not None else "-"
        site = "-" if r["expect"] == "none" else ("yes" if r["correct"] else "NO")
        rate = human(r["rate"]) if r["expect"] != "none" else "-"
        req = str(r["requests"]) if r["requests"] is not None else "-"
        print(f"{r['app']:28} {r['expect']:6} {rate:>10} {r['threshold']:>5} "
              f"{r['verdict'][:8]:8} {site:5} {r.get('named', '-'):8} {req:>8} {at_site:>7} "
              f"{leaked:>7} {r['false']:>5} {r.get('holder', '-'):6}  "
              f"{'ok' if r['ok'] else 'known limit' if r['known'] else 'FAIL'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("apps", nargs="*", help="app files in tests/eval/apps (default: all)")
    ap.add_argument("--uwsgi", default="", help="extra uWSGI options for every app, one string "
                    "(to evaluate other settings, e.g. \"--leakwatch-warmup 5\")")
    args = ap.parse_args()
    apps = args.apps or sorted(a for a in os.listdir(APPS) if a.endswith(".py"))
    rows, known = [], []
    runs = [(os.path.basename(a), False) for a in apps]
    runs += [(a, True) for a, _ in list(runs) if label(a).get("full_speed")]
    for app, full_speed in runs:
        row = evaluate(app, args.uwsgi.split(), full_speed)
        (known if row["known"] else rows).append(row)
        print(f"  {row['app']}: {row['verdict']} after {row['requests']} requests, "
              f"{row['seconds']:.0f}s{'' if row['ok'] else '  <-- ' + row.get('first', '')}",
              flush=True)
        if not row["ok"]:
            print(f"    log: {row['log']}")
        elif os.environ.get("LW_EVAL_SHOW"):  # the first alert's line, to read
            print(f"    {row.get('first', '')}")
    print()
    table(rows)
    if known:
        print("\nknown limits, listed apart (they do not fail the run):")
        table(known)
        for r in known:
            print(f"  {r['app']}: {r['known']}")
    leaks = [r for r in rows if r["expect"] != "none"]
    # targets (issue 17): a leak by 2T leaked in all, native growth by 4T
    def target(r):
        return 4 if r["expect"] == "native" else 2
    late = [r for r in leaks if r.get("site_leaked") and r["site_leaked"] > target(r)]
    late_all = [r for r in leaks if r.get("leaked") and r["leaked"] > target(r)]
    missed = sum(1 for r in leaks if not r["correct"])
    false = sum(r["false"] for r in rows)
    held = [r for r in leaks if r.get("holder")]
    print("\nwhat holds each leak (HELD), as said:")
    for r in held:
        print(f"  {r['app']}: {r['holder']}: {r.get('held') or '(no HELD line)'}")
    print(f"\n{len(leaks)} leaks: {missed} missed or misplaced, {len(late_all)} announced past "
          f"2T in all, native 4T ({len(late)} at their site); {len(rows) - len(leaks)} no-leak apps; "
          f"{false} false alarms; holder named for "
          f"{sum(r['holder'] == 'yes' for r in held)} of {len(held)} leaks with one expected")
    sys.exit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":
    main()

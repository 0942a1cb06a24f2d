#!/usr/bin/python3
"""Instruction counts per request, with and without leakwatch (callgrind).

Deterministic where wall-clock throughput on a shared 2-core VM is not:
each configuration serves the benchmark app from one uWSGI worker under
`valgrind --tool=callgrind`; after a warm-up the worker zeroes its counters
(a request to /cg/zero), N requests are sent to one endpoint, and it dumps
them (/cg/dump), less what an empty window counts. A worker with a master
(any leakwatch option starts one) is measured like a lone process, so
--extra can measure leakwatch's options, e.g. the sampling interval. Three
configurations: without leakwatch, the floor (tests/bench/floor.c:
allocator hooks that pass every call on) and leakwatch. Also reports what
leakwatch's hooks cost per call (self instructions / calls), the figure
that every allocation and free of every request pays, and the functions
whose instructions per request grew most from the floor to leakwatch:
where the cost above the floor goes.
"""
import argparse
import collections
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import free_port, http_get  # noqa: E402
PLUGIN = os.path.join(ROOT, "leakwatch_plugin.so")
FLOOR = os.path.join(ROOT, "build", "bench", "floor_plugin.so")
CGCTL = os.path.join(ROOT, "build", "bench", "cgctl.so")
ENDPOINTS = ["/json", "/alloc", "/tiny"]
HOOKS = ["hook_malloc", "hook_calloc", "hook_realloc", "hook_free"]



def get(port, path):
    return http_get(port, path, timeout=60)[0]


def parse(path, plugin):
    """Total Ir; per function: self Ir and calls received; per object file
    (the executable or library): self Ir; and per function of `plugin`'s
    object (its file name): self Ir."""
    tables = {"fn": {}, "ob": {}}  # callgrind's name compression: (id) name, then (id)
    self_ir, calls = collections.Counter(), collections.Counter()
    by_object, own = collections.Counter(), collections.Counter()
    total, fn, ob, pending_call = 0, None, "?", None

    def name_of(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if m[2] is not None:
            tables[kind][m[1]] = m[2] if kind == "fn" else os.path.basename(m[2])
        return tables[kind].get(m[1], "?")

    with open(path) as f:
        for line in f:
            key, _, rest = line.rstrip("\n").partition("=")
            if key == "ob":
                ob = name_of("ob", rest)
            elif key == "cob":  # a callee's object: named here, not entered
                name_of("ob", rest)
            elif key == "fn":
                fn = name_of("fn", rest)
            elif key == "cfn":
                pending_call = name_of("fn", rest)
            elif key == "calls":
                calls[pending_call] += int(rest.split()[0])
                pending_call = "<call-cost>"
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2:
                    ir = int(parts[1])
                    if pending_call == "<call-cost>":
                        pending_call = None  # inclusive cost of a call: not self
                    else:
                        self_ir[fn] += ir
                        by_object[ob] += ir
                        if ob == plugin:
                            own[fn] += ir
                        total += ir
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    return total, self_ir, calls, by_object, own


def measure(extra, requests, plugin=os.path.basename(PLUGIN)):
    """Per endpoint: callgrind's parse() of the serving process's counters
    over `requests` requests, less an empty window's. The worker zeroes and
    dumps its own counters (/cg/zero, /cg/dump: tests/bench/cgctl.c), so a
    worker forked by a master is measured like a lone process; the empty
    window (a zero, then a dump) is the two switching requests' own share."""
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="leakwatch-cg-")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p.out", "uwsgi",
           "--plugin", "python3", *extra, "--http-socket", f"127.0.0.1:{port}",
           "--wsgi-file", os.path.join(HERE, "app.py"), "--processes", "1",
           "--disable-logging"]
    log = open(os.path.join(tmp, "uwsgi.log"), "w")
    env = dict(os.environ, LEAKWATCH_BENCH_CGCTL=CGCTL)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=env)
    results = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if get(port, "/tiny") == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"uWSGI under callgrind did not start; see {tmp}/uwsgi.log")
            time.sleep(0.5)
        for path in ENDPOINTS:
            for _ in range(20):
                get(port, path)
        dumps = 0

        def window(path, n):
            nonlocal dumps
            if get(port, "/cg/zero") != 200:
                sys.exit(f"/cg/zero failed; see {tmp}/uwsgi.log")
            for _ in range(n):
                get(port, path)
            get(port, "/cg/dump")
            dumps += 1
            return parse(wait_dump(tmp, dumps), plugin)

        empty = window(None, 0)
        for path in ENDPOINTS:
            results[path] = less(window(path, requests), empty)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return results


def less(measured, empty):
    """parse()'s figures of a window less those of the empty window."""
    total, *counters = measured
    out = [total - empty[0]]
    for mine, theirs in zip(counters, empty[1:]):
        c = collections.Counter(mine)
        c.subtract(theirs)
        out.append(c)
    return tuple(out)


def wait_dump(tmp, n):
    """The n-th dump of whichever process dumped (only the serving one does)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = glob.glob(os.path.join(tmp, f"cg.*.out.{n}"))
        if found and os.path.getsize(found[0]) > 0:
            time.sleep(0.5)
            return found[0]
        time.sleep(0.2)
    sys.exit(f"no callgrind dump {n} in {tmp}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--extra", nargs="*", default=[],
                    help="extra uWSGI options for the leakwatch run, e.g. --leakwatch-sample-rate exact")
    ap.add_argument("--plugin", default=PLUGIN,
                    help="the plugin to measure (another build, to compare two versions)")
    args = ap.parse_args()
    base = measure([], args.requests)
    floor = measure(["--plugin", FLOOR], args.requests)
    lw = measure(["--plugin", os.path.abspath(args.plugin)] + args.extra, args.requests,
                 os.path.basename(args.plugin))
    print(f"instructions per request (callgrind, {args.requests} requests per endpoint, 1 process;"
          " target: leakwatch's ratio at most 0.01 over the floor's)")
    print(f"{'endpoint':10} {'without':>12} {'floor':>12} {'leakwatch':>12} {'floor':>7}"
          f" {'lw':>7} {'lw-floor':>8}")
    hook_ir, hook_calls = collections.Counter(), collections.Counter()
    for path in ENDPOINTS:
        b, f, l = (r[path][0] / args.requests for r in (base, floor, lw))
        print(f"{path:10} {b:12.0f} {f:12.0f} {l:12.0f} {f / b:7.3f} {l / b:7.3f}"
              f" {(l - f) / b:+8.3f}")
    for path in ENDPOINTS:
        grew = collections.Counter(lw[path][1])
        # the floor's hooks stand where leakwatch's are: compared with them
        grew.subtract({fn.replace("floor_", "hook_"): ir for fn, ir in floor[path][1].items()})
        top = [(fn, ir) for fn, ir in grew.most_common(8) if ir > 0]
        print(f"  {path}: instructions per request above the floor, by function (self):")
        for fn, ir in top:
            print(f"    {ir / args.requests:9.0f}  {fn}")
        # By object: unnamed functions (CPython's static ones, stripped) are
        # named by callgrind after how they were entered, so a deallocator
        # that _Py_Dealloc reaches by a tail jump in one run and a hook calls
        # in the other moves between names; an object's sum does not move.
        objs = collections.Counter(lw[path][3])
        objs.subtract(floor[path][3])
        shown = [(ob, ir) for ob, ir in objs.most_common() if abs(ir) >= args.requests * 10]
        print(f"  {path}: above the floor, by object (self): "
              + ", ".join(f"{ob} {ir / args.requests:+.0f}" for ob, ir in shown))
        print(f"  {path}: leakwatch's own functions (self), per request: "
              + ", ".join(f"{fn} {ir / args.requests:.0f}"
                          for fn, ir in lw[path][4].most_common(12) if ir >= args.requests))
    for path in ENDPOINTS:
        for h in HOOKS:
            hook_ir[h] += lw[path][1][h]
            hook_calls[h] += lw[path][2][h]
    print("leakwatch hooks, self instructions per call (common path, over all endpoints):")
    for h in HOOKS:
        if hook_calls[h]:
            print(f"  {h:13} {hook_ir[h] / hook_calls[h]:6.1f} instructions x {hook_calls[h]} calls")


if __name__ == "__main__":
    main()

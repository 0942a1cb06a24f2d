#!/usr/bin/python3
"""Runs leakwatch's tests and ends with one line: "N passed, N failed".

    tests/run.py --unit build/unit/test_size ... [--valgrind] [--integration]

Unit binaries are cmocka programs: their own summary lines are printed as
they come and their counts are added up. Integration tests are the
unittest modules in tests/integration (real uWSGI, the built plugin).
"""
import argparse
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\)", re.M)
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--track-origins=yes"]


def run_unit(binaries, valgrind):
    passed = failed = 0
    for binary in binaries:
        cmd = (VALGRIND if valgrind else []) + [binary]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        # cmocka writes progress to stdout and its summary to stderr
        output = proc.stdout + proc.stderr
        sys.stdout.write(output)
        p = sum(int(n) for n in PASSED.findall(output))
        f = sum(int(n) for n in FAILED.findall(output))
        if proc.returncode != 0 and f == 0:
            # a crash, a sanitizer or valgrind report: the binary failed
            print(f"{binary}: exited with status {proc.returncode}")
            f = 1
        passed += p
        failed += f
    return passed, failed


def run_integration(only=()):
    sys.path.insert(0, os.path.join(HERE, "integration"))
    if only:
        suite = unittest.defaultTestLoader.loadTestsFromNames(only)
    else:
        suite = unittest.defaultTestLoader.discover(os.path.join(HERE, "integration"),
                                                    pattern="test_*.py")
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    # an error in setUpClass (or tearDownClass) is a failure of no test that ran
    ran_and_failed = sum(isinstance(t, unittest.TestCase)
                         for t, _ in result.failures + result.errors)
    ran_and_failed += len(result.unexpectedSuccesses)
    return result.testsRun - ran_and_failed - len(result.skipped), failed, len(result.skipped)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--valgrind", action="store_true")
    ap.add_argument("--integration", action="store_true")
    ap.add_argument("--only", nargs="*", default=[],
                    help="integration tests to run, as module.Class.test names")
    ap.add_argument("--no-skip", action="store_true",
                    help="a skipped test fails the run (a step that exists to run it)")
    args = ap.parse_args()

    passed = failed = skipped = 0
    if args.unit:
        p, f = run_unit(args.unit, args.valgrind)
        print(f"unit: {p} passed, {f} failed")
        passed, failed = passed + p, failed + f
    if args.integration:
        sys.stdout.flush()
        p, f, s = run_integration(args.only)
        print(f"integration: {p} passed, {f} failed, {s} skipped")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    if passed + failed == 0:
        print("no tests ran")
        return 1
    line = f"{passed} passed, {failed} failed"
    print(line + (f", {skipped} skipped" if skipped else ""))
    if skipped and args.no_skip:
        print(f"{skipped} skipped where none may be (--no-skip)")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""make demo: start uWSGI with leakwatch and a leaking Flask app, drive a short
burst of traffic, and show what leakwatch says: each alert's first line as
it comes, then a short summary (the LEAK, what holds it, the OOM warning,
where the page and the report were saved). The whole log, detail lines and
all, stays in the file it names."""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALERT = re.compile(r"^\[leakwatch\] (enabled|LEAK|HELD|OOM|NATIVE|LAST WORDS) ")
SECONDS = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def screenshot(url, path):
    """The page as headless Chromium shows it, or None without Chromium."""
    chromium = shutil.which("chromium")
    if not chromium:
        return None
    profile = tempfile.mkdtemp(prefix="leakwatch-demo-chromium-")
    try:
        done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                               f"--user-data-dir={profile}", "--hide-scrollbars",
                               "--window-size=1280,1100", f"--screenshot={path}", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        return path if done.returncode == 0 else None
    finally:
        shutil.rmtree(profile, True)


def held(log_path):
    """The HELD line, once the master has said it."""
    with open(log_path, errors="replace") as f:
        return next((l.rstrip("\n") for l in f if l.startswith("[leakwatch] HELD ")), None)


def main():
    port, page_port = free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="leakwatch-demo-")
    log_path = os.path.join(tmp, "uwsgi.log")
    cmd = ["uwsgi", "--plugin", "python3", "--plugin", os.path.join(ROOT, "leakwatch_plugin.so"),
           "--http-socket", f"127.0.0.1:{port}", "--wsgi-file",
           os.path.join(ROOT, "examples", "leaky_profiler.py"),
           "--master", "--processes", "2", "--disable-logging", "--die-on-term",
           "--leakwatch-threshold", "2MB",
           "--leakwatch-memory-limit", "128M", "--leakwatch-http", f":{page_port}"]
    print("$ " + " ".join(cmd))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    shown = 0

    def show_new_lines():
        """Each alert's first line (LEAK, HELD, OOM, ...) and leakwatch's
        start line; their detail lines stay in the log."""
        nonlocal shown
        with open(log_path, errors="replace") as f:
            lines = [l.rstrip("\n") for l in f if ALERT.match(l)]
        for line in lines[shown:]:
            print(line, flush=True)
        shown = len(lines)

    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                sys.stdout.write(open(log_path).read())
                return 1
            try:
                if get(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print("uWSGI did not answer within 30 s; its log:")
                sys.stdout.write(open(log_path).read())
                return 1
            time.sleep(0.1)
        show_new_lines()
        print(f"--- driving traffic at / and /orders/<id> for {SECONDS} s ---", flush=True)
        i, end = 0, time.monotonic() + SECONDS
        while time.monotonic() < end:
            get(port, "/" if i % 2 else f"/orders/{i}?session={i}")
            i += 1
            if i % 100 == 0:
                show_new_lines()
        # the worker asked what holds the leak walks after one of its next
        # requests: a few more, until its HELD line is in
        end = time.monotonic() + 10
        while time.monotonic() < end and not held(log_path):
            get(port, f"/orders/{i}?session={i}")
            i += 1
        time.sleep(1)  # the last alerts
        show_new_lines()
        with open(log_path, errors="replace") as f:
            log = f.read()
        report = os.path.join(tmp, "report.json")
        with open(report, "wb") as f:
            f.write(get(page_port, "/report.json")[1])
        status, body = get(port, "/health")
        url = f"http://127.0.0.1:{page_port}/"
        shot = screenshot(url, os.path.join(tmp, "page.png"))
        print(f"\n--- summary: {i} requests sent ---")
        for kind in ("LEAK", "HELD", "OOM"):
            line = re.search(rf"(?m)^\[leakwatch\] {kind} (.*)$", log)
            print(f"{kind:5} {line[1] if line else '(none yet)'}")
        print(f"the app:  the worker that answered /health keeps {body.decode().strip()} in "
              "Profiler.records, and counting")
        print(f"page:     {shot or 'no screenshot (chromium is not installed)'} "
              f"(served on {url} while uWSGI ran: --leakwatch-http)")
        print(f"report:   {report} (/report.json)")
        print(f"full log: {log_path}")
        return 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())

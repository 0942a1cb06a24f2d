#!/usr/bin/python3
"""make demo: start uWSGI with leakwatch and a leaking Flask app, drive a short
burst of traffic, and show what leakwatch logs."""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
           "--leakwatch-threshold", "2MB", "--leakwatch-summary", "2",
           "--leakwatch-memory-limit", "128M", "--leakwatch-http", f":{page_port}"]
    print("$ " + " ".join(cmd))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    shown = 0

    def show_new_lines():
        nonlocal shown
        with open(log_path, errors="replace") as f:
            lines = [l.rstrip("\n") for l in f if l.startswith("[leakwatch]")]
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
        time.sleep(2.5)  # let the next status line come out
        show_new_lines()
        print(f"--- {i} requests sent ---")
        line = held(log_path)
        print(f"--- what holds the leak: {line.split('held by: ', 1)[1] if line else 'not said yet'} "
              "---")
        status, body = get(port, "/health")
        print(f"--- the worker that answered /health keeps {body.decode().strip()} "
              "in Profiler.records, and counting ---")
        url = f"http://127.0.0.1:{page_port}/"
        shot = screenshot(url, os.path.join(tmp, "page.png"))
        print(f"--- the page leakwatch served on {url} (--leakwatch-http): "
              f"{shot or 'no screenshot (chromium is not installed)'} ---")
        print(f"full uWSGI log: {log_path}")
        return 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())

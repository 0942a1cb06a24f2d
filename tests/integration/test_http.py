"""--leakwatch-http: the master serves a page (/), /metrics (Prometheus text
format) and /report.json over HTTP; bad requests get short answers; a bad
address stops uWSGI at start; a real Prometheus server scrapes it and sees a
leak rise; headless Chromium renders the page with the leak's chart."""
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest
import urllib.parse
import zlib

from harness import (APPS, ROOT, UwsgiTestCase, free_port, http_get, leak_line, run_uwsgi,
                     wait_until, PLUGIN, PYTHON_PLUGIN)

LABEL_BYTES = 511  # a label value keeps at most this much (src/prometheus.c, with its NUL: 512)
SITE = re.compile(r'^leakwatch_site_live_bytes\{file="([^"]*)",line="(\d+)",function="([^"]*)",'
                  r'via_libraries="(true|false)",kind="(?:line|function|file)"\} (\d+)$', re.M)


def raw(port, data, timeout=10):
    """Sends bytes, returns everything the server answers before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        chunks = []
        while True:
            got = c.recv(65536)
            if not got:
                return b"".join(chunks)
            chunks.append(got)


def leak_until(case, server, port, path, ready, what):
    """Drives the leaking app until ready(text) holds for what --leakwatch-http
    serves at path; returns that text."""
    def poll():
        for _ in range(20):
            server.get("/")
        status, body = http_get(port, path)
        case.assertEqual(status, 200)
        text = body.decode()
        return text if ready(text) else None
    return wait_until(poll, 90, what)


class HttpTest(UwsgiTestCase):

    def leaking_server(self):
        port = free_port()
        server = self.server("leak_bytes.py", summary=0, args=[
            "--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384",
            "--leakwatch-http", f":{port}"])
        return server, port

    def test_metrics_show_the_leaking_site_and_pass_promtool(self):
        # GIVEN a leaking app served with --leakwatch-http
        server, port = self.leaking_server()
        # WHEN requests leak and /metrics is scraped
        text = leak_until(self, server, port, "/metrics",
                          lambda text: 'leakwatch_alerts_total{kind="LEAK"} 0' not in text,
                          "a LEAK counted on /metrics")
        # THEN the leaking line is a labelled series, workers have RSS, and
        # promtool (Prometheus's own checker) accepts the exposition
        sites = {(m[1], int(m[2])): int(m[5]) for m in SITE.finditer(text)}
        self.assertGreater(sites[(server.app, leak_line("leak_bytes.py"))], 512 * 1024)
        rss = [int(v) for v in re.findall(r'^leakwatch_worker_rss_bytes\{kind="worker",worker="\d"\} (\d+)$',
                                          text, re.M)]
        self.assertEqual(len(rss), 2)
        self.assertTrue(all(v > 1 << 20 for v in rss), rss)
        self.assertIn("\nleakwatch_lost_total 0\n", text)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is needed")
        check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(check.returncode, 0, check.stdout)

    def test_long_non_ascii_names_pass_promtool(self):
        # GIVEN a leaking app whose path is longer than a label value holds,
        # in 3-byte characters, placed so that the byte cut falls inside one
        base = tempfile.mkdtemp(prefix="leakwatch-utf8-")
        self.addCleanup(shutil.rmtree, base, True)
        char = "\u65e5"
        def path(pad):
            return os.path.join(base, "p" * pad, char * 80, char * 80, char * 80, "leak.py")
        app = next(path(pad) for pad in (1, 2, 3)
                   if 0x80 <= path(pad).encode()[LABEL_BYTES] < 0xC0)
        os.makedirs(os.path.dirname(app))
        shutil.copy(os.path.join(APPS, "leak_bytes.py"), app)
        port = free_port()
        server = self.server(app, summary=0, args=[
            "--leakwatch-threshold", "512k", "--leakwatch-http", f":{port}"])
        # WHEN it leaks and /metrics is scraped
        series = re.compile(rb'^leakwatch_site_live_bytes\{file="(' + re.escape(base.encode()) +
                            rb'[^"]*)"', re.M)
        def scraped():
            for _ in range(20):
                server.get("/")
            status, body = http_get(port, "/metrics")
            self.assertEqual(status, 200)
            return body if series.search(body) else None
        body = wait_until(scraped, 90, "the app's site on /metrics")
        # THEN its file label is cut to whole characters, and promtool accepts the scrape
        label = series.search(body).group(1)
        self.assertLessEqual(len(label), LABEL_BYTES)
        self.assertTrue(app.encode().startswith(label), label)
        label.decode()  # whole characters: raises otherwise
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is needed")
        check = subprocess.run([promtool, "check", "metrics"], input=body,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(check.returncode, 0, check.stdout)

    def test_report_json_is_the_report(self):
        server, port = self.leaking_server()
        for _ in range(50):
            server.get("/")

        def both_served():  # sequential requests may all go to one worker
            server.get("/")
            return all(n > 0 for _pid, n in server.worker_requests().values())
        wait_until(both_served, 60, "both workers to serve a request")

        def report():  # every worker, once the master has read its ring (4 times a second)
            status, body = http_get(port, "/report.json")
            self.assertEqual(status, 200)
            doc = json.loads(body)
            return doc if len(doc["workers"]) == 2 else None
        doc = wait_until(report, 30, "both workers in /report.json")
        self.assertEqual(set(doc), {"version", "as_of_requests", "settings", "workers", "sites",
                                    "alerts"})

    def test_bad_requests_get_short_answers(self):
        server, port = self.leaking_server()
        self.assertEqual(http_get(port, "/nothing-here")[0], 404)
        self.assertTrue(raw(port, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 405 "))
        self.assertTrue(raw(port, b"\x16\x03\x01\x00\xa5\x01\x00").startswith(b"HTTP/1.1 400 "))
        self.assertTrue(raw(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 400 "))

    def test_a_silent_client_does_not_keep_others_out(self):
        # GIVEN a client that connects and sends nothing
        server, port = self.leaking_server()
        silent = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(silent.close)
        # WHEN another client asks for /metrics
        status, body = http_get(port, "/metrics", timeout=15)
        # THEN it is answered once the silent one has timed out (2 s)
        self.assertEqual(status, 200)
        self.assertIn(b"# TYPE leakwatch_lost_total counter", body)

    def test_a_trickling_client_is_cut_off(self):
        # GIVEN a client sending its request head one byte a second (each byte
        # well inside the 2 s read timeout, the head never complete)
        server, port = self.leaking_server()
        slow = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(slow.close)
        stop = threading.Event()
        self.addCleanup(stop.set)
        def trickle():
            try:
                slow.sendall(b"GET /metrics HTTP/1.1\r\n")
                while not stop.wait(1):
                    slow.sendall(b"X")
            except OSError:
                pass  # cut off: what should happen
        threading.Thread(target=trickle, daemon=True).start()
        # WHEN another client asks for /metrics
        status, body = http_get(port, "/metrics", timeout=20)
        # THEN it is answered once the trickler's connection ran out of time (5 s)
        self.assertEqual(status, 200)
        self.assertIn(b"# TYPE leakwatch_lost_total counter", body)

    def test_a_bad_address_stops_uwsgi(self):
        rc, out = run_uwsgi(PYTHON_PLUGIN + ["--plugin", PLUGIN, "--leakwatch-http",
                             "localhost:99999", "--http-socket", "127.0.0.1:0"])
        self.assertNotEqual(rc, 0)
        lines = [l for l in out.splitlines() if l.startswith("[leakwatch] --leakwatch-http")]
        self.assertEqual(len(lines), 1, out)
        self.assertIn("localhost:99999", lines[0])


class PrometheusScrapeTest(UwsgiTestCase):
    """A real Prometheus server (Debian's) scrapes leakwatch while an app leaks."""

    def start_prometheus(self, target_port):
        binary = shutil.which("prometheus")
        self.assertIsNotNone(binary, "prometheus (Debian package prometheus) is needed")
        tmp = tempfile.mkdtemp(prefix="leakwatch-prom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: leakwatch\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        port = free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        proc = subprocess.Popen([binary, f"--config.file={config}",
                                 f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(20)
        self.addCleanup(stop)
        wait_until(lambda: self.query(port, "up") is not None, 60, "Prometheus to answer")
        return port

    @staticmethod
    def query(port, promql):
        try:
            url = f"/api/v1/query?query={urllib.parse.quote(promql)}"
            status, body = http_get(port, url)
        except OSError:
            return None
        if status != 200:
            return None
        return json.loads(body)["data"]["result"]

    def test_prometheus_sees_the_leak_rising(self):
        # GIVEN a leaking app with --leakwatch-http, and Prometheus scraping it every second
        port = free_port()
        server = self.server("leak_bytes.py", summary=0, args=[
            "--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384",
            "--leakwatch-http", f":{port}"])
        prom = self.start_prometheus(port)
        series = (f'leakwatch_site_live_bytes{{file="{server.app}",'
                  f'line="{leak_line("leak_bytes.py")}"}}[60s]')

        # WHEN requests keep leaking
        def rising():
            for _ in range(30):
                server.get("/")
            result = self.query(prom, series)
            if not result:
                return None
            values = [float(v) for _, v in result[0]["values"]]
            return values if len(values) >= 5 and values[-1] > values[0] > 0 else None
        values = wait_until(rising, 90, "Prometheus to hold a rising leakwatch_site_live_bytes")
        # THEN Prometheus stored the leaking site's series, and it rises
        self.assertGreater(values[-1], values[0])
        up = self.query(prom, 'up{job="leakwatch"}')
        self.assertEqual(up[0]["value"][1], "1")


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG, unfiltered."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, head = 8, b"", None
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + size]
        if kind == b"IHDR":
            head = body
        elif kind == b"IDAT":
            idat += body
        at += 12 + size
    width, height = int.from_bytes(head[0:4], "big"), int.from_bytes(head[4:8], "big")
    depth, color = head[8], head[9]
    assert depth == 8 and color in (2, 6), f"unexpected PNG format {depth}/{color}"
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 255
            elif filt == 2:
                line[i] = (line[i] + b) & 255
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


class PageTest(UwsgiTestCase):
    """GET / is a page a person reads: headless Chromium renders it."""

    CHART_LINE = (0x3B, 0x7D, 0xD8)  # the charts' stroke colour (src/page.c)

    def chromium(self, *args):
        binary = shutil.which("chromium")
        self.assertIsNotNone(binary, "chromium (Debian package chromium) is needed")
        profile = tempfile.mkdtemp(prefix="leakwatch-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        run = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                              f"--user-data-dir={profile}", "--hide-scrollbars",
                              "--window-size=1280,1000", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr.decode(errors="replace")[-2000:])
        return run.stdout.decode(errors="replace")

    def leaking_page(self, ready, what):
        """A leaking app's server, its --leakwatch-http port, and its page once
        ready(page) holds, traffic flowing meanwhile."""
        server, port = HttpTest.leaking_server(self)
        return server, port, leak_until(self, server, port, "/", ready, what)

    def test_chromium_renders_the_leak_and_its_chart(self):
        # GIVEN a leaking app served with --leakwatch-http
        # WHEN it leaks until alerted, over a few seconds of history (the
        # leak's chart comes first; five frames, a second apart, make a line)
        def with_history(page):
            points = re.search(r'points="([^"]*)"', page)
            return "badge leak" in page and points and points[1].count(",") >= 7
        server, port, page = self.leaking_page(with_history,
                                               "the page to show the LEAK with a chart")
        self.assertIn(html.escape(server.app), page)
        url = f"http://127.0.0.1:{port}/"
        # THEN Chromium renders the site's name and its chart from the live server
        dom = self.chromium("--dump-dom", url)
        where = f"{server.app}:{leak_line('leak_bytes.py')}"
        self.assertIn(where, html.unescape(dom))
        self.assertRegex(dom, r'<svg class="chart"[^>]*><polyline[^>]* points="0,90 [0-9.]+,')
        self.assertIn("LEAK", dom)
        # and a screenshot (kept: build/artifacts/leakwatch-page.png) shows the chart's line
        artifacts = os.path.join(ROOT, "build", "artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "leakwatch-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        self.chromium(f"--screenshot={shot}", url)
        width, height, rows = png_pixels(shot)
        self.assertEqual((width, height), (1280, 1000))
        line = sum(1 for row in rows for px in row
                   if all(abs(px[i] - self.CHART_LINE[i]) < 40 for i in range(3)))
        self.assertGreater(line, 100, "no chart line in the screenshot")

    def test_page_fits_a_laptop_screen_without_sideways_scrolling(self):
        # GIVEN the page of a leaking app, with a long file name
        server, port, page = self.leaking_page(lambda page: "badge leak" in page,
                                               "the page to show the LEAK")
        # WHEN Chromium lays it out at laptop widths (a probe script added to a copy)
        tmp = tempfile.mkdtemp(prefix="leakwatch-page-")
        self.addCleanup(shutil.rmtree, tmp, True)
        copy = os.path.join(tmp, "page.html")
        probe = ("<script>document.body.setAttribute('data-overflow', String("
                 "document.documentElement.scrollWidth > window.innerWidth));</script>")
        with open(copy, "w") as f:
            f.write(page.replace("<meta http-equiv=\"refresh\"", "<meta name=\"was-refresh\"")
                        .replace("</body>", probe + "</body>"))
        for width in (1280, 1024):
            dom = self.chromium(f"--window-size={width},800", "--dump-dom", "file://" + copy)
            # THEN nothing is wider than the window
            self.assertIn('data-overflow="false"', dom, f"sideways scrolling at {width} px")

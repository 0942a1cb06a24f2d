"""--leakwatch-report answers each connection with one JSON document."""
import os
import socket
import stat
import tempfile
import unittest

from harness import (APPS, PLUGIN, PYTHON_PLUGIN, UwsgiTestCase, free_port, leak_line,
                     read_document, run_uwsgi, wait_until)


class ReportTest(UwsgiTestCase):

    def leak_until_alert(self, server):
        def alerted():
            for _ in range(20):
                server.get("/")
            return "[leakwatch] LEAK" in server.log()
        wait_until(alerted, 60, "a LEAK line")

    def test_report_over_tcp_names_the_leak(self):
        # GIVEN a report on a loopback port and a leaking app
        port = free_port()
        server = self.server("leak_bytes.py", summary=0, args=[
            "--leakwatch-threshold", "512k", "--leakwatch-report", f":{port}"])
        self.leak_until_alert(server)
        # WHEN a client connects
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            doc = read_document(s)
        # THEN one document: settings, workers, the leaking site first, the alert
        self.assertEqual(doc["settings"]["threshold"], 512 * 1024)
        self.assertEqual(sorted(w["id"] for w in doc["workers"]), [1, 2])
        site = doc["sites"][0]
        self.assertEqual((site["file"], site["line"]),
                         (os.path.join(APPS, "leak_bytes.py"), leak_line("leak_bytes.py")))
        self.assertGreater(site["live_bytes"], 512 * 1024)
        self.assertTrue(site["alerted"])
        self.assertEqual(site["top_endpoints"][0]["endpoint"], "/")
        self.assertTrue(doc["alerts"][0]["text"].startswith("[leakwatch] LEAK "))

    def test_report_over_a_unix_socket_is_private(self):
        path = os.path.join(tempfile.mkdtemp(prefix="lw-report-"), "report.sock")
        server = self.server("hello.py", summary=0, args=["--leakwatch-report", path])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            doc = read_document(s)
        self.assertEqual(doc["alerts"], [])
        self.assertIn("version", doc)
        # a client that connects and never reads does not stop the next one
        idle = socket.socket(socket.AF_UNIX)
        idle.connect(path)
        self.addCleanup(idle.close)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            self.assertIn("sites", read_document(s))
        self.assertEqual(server.get("/")[0], 200)

    def test_an_address_that_cannot_be_bound_stops_uwsgi(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            rc, out = run_uwsgi(PYTHON_PLUGIN + ["--plugin", PLUGIN, "--master",
                                 "--http-socket", "127.0.0.1:0",
                                 "--wsgi-file", os.path.join(APPS, "hello.py"),
                                 "--leakwatch-report", f"127.0.0.1:{port}"])
        self.assertNotEqual(rc, 0)
        lines = [l for l in out.splitlines() if l.startswith("[leakwatch] --leakwatch-report")]
        self.assertEqual(len(lines), 1, out)
        self.assertIn("cannot listen", lines[0])
        self.assertNotIn("spawned uWSGI worker", out)


if __name__ == "__main__":
    unittest.main()

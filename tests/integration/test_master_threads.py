"""The master's own threads (the analyst, the report and HTTP listeners) in
conditions production brings and a quick test run does not: small thread
stacks, workers respawned while a client is connected, a log that stops
taking lines."""
import json
import resource
import socket

from harness import UwsgiTestCase, free_port, http_get

SMALL_STACK = 256 * 1024  # bytes: glibc's default thread stack follows RLIMIT_STACK


def small_stack():
    """preexec_fn: uWSGI and its threads get a 256 KiB stack, as threads do on musl (128 KiB)."""
    resource.setrlimit(resource.RLIMIT_STACK, (SMALL_STACK, SMALL_STACK))


def report_of(port, timeout=10):
    """The document --leakwatch-report answers a connection with."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return json.loads(b"".join(chunks))
            chunks.append(data)


class SmallStackTest(UwsgiTestCase):

    def test_small_thread_stacks_serve_every_page(self):
        # GIVEN uWSGI started with a 256 KiB stack limit (glibc's threads then
        # get 256 KiB stacks by default), a report and an HTTP listener
        http_port, report_port = free_port(), free_port()
        server = self.server("leak_bytes.py", summary=0, preexec_fn=small_stack, args=[
            "--leakwatch-http", f":{http_port}", "--leakwatch-report", f":{report_port}"])
        with open(f"/proc/{server.proc.pid}/limits") as f:
            self.assertRegex(f.read(), rf"Max stack size\s+{SMALL_STACK}\s+{SMALL_STACK}")
        for _ in range(30):
            server.get("/")
        # WHEN the page, /metrics, /report.json and the report are asked for
        answers = {path: http_get(http_port, path) for path in ("/", "/metrics", "/report.json")}
        doc = report_of(report_port)
        # THEN each is answered, and the master still runs
        self.assertEqual({path: status for path, (status, _) in answers.items()},
                         {"/": 200, "/metrics": 200, "/report.json": 200})
        self.assertEqual(len(json.loads(answers["/report.json"][1])["workers"]), 2)
        self.assertEqual(len(doc["workers"]), 2)
        self.assertIsNone(server.proc.poll(), "the master exited")
        self.assertEqual(server.get("/")[0], 200)


if __name__ == "__main__":
    import unittest
    unittest.main()

"""The master's own threads (the analyst, the report and HTTP listeners) in
conditions production brings and a quick test run does not: small thread
stacks, workers respawned while a client is connected, a log that stops
taking lines."""
import errno
import fcntl
import json
import os
import resource
import signal
import socket
import threading

from harness import Server, UwsgiTestCase, free_port, http_get, read_document, wait_until

SMALL_STACK = 256 * 1024  # bytes: glibc's default thread stack follows RLIMIT_STACK


def small_stack():
    """preexec_fn: uWSGI and its threads get a 256 KiB stack, as threads do on musl (128 KiB)."""
    resource.setrlimit(resource.RLIMIT_STACK, (SMALL_STACK, SMALL_STACK))


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
        with socket.create_connection(("127.0.0.1", report_port), timeout=10) as s:
            doc = read_document(s)
        # THEN each is answered, and the master still runs
        self.assertEqual({path: status for path, (status, _) in answers.items()},
                         {"/": 200, "/metrics": 200, "/report.json": 200})
        keys = {"version", "as_of_requests", "settings", "workers", "sites", "alerts"}
        self.assertEqual(set(json.loads(answers["/report.json"][1])), keys)
        self.assertEqual(set(doc), keys)
        self.assertIsNone(server.proc.poll(), "the master exited")
        self.assertEqual(server.get("/")[0], 200)


def server_socket_inode(server_port, client_port):
    """The inode of the server's end of a loopback TCP connection (/proc/net/tcp*)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
                if (local, remote) == (server_port, client_port):
                    return fields[9]
    return None


def socket_inodes(pid):
    """The inodes of the sockets process pid has descriptors for."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


class RespawnTest(UwsgiTestCase):

    def test_a_client_connected_across_a_respawn_gets_its_end(self):
        # GIVEN --leakwatch-http, and a client holding the listener with a
        # request head it trickles (the listener gives up on it after 5 s)
        port = free_port()
        server = self.server("hello.py", summary=0, args=["--leakwatch-http", f":{port}"])
        old_pid = server.worker_requests()[1][0]
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(client.close)
        client.sendall(b"GET /metrics HTTP/1.1\r\n")
        stop = threading.Event()
        self.addCleanup(stop.set)
        def trickle():
            try:
                while not stop.wait(0.5):
                    client.sendall(b"X")
            except OSError:
                pass
        threading.Thread(target=trickle, daemon=True).start()

        # WHEN a worker is killed and the master forks its successor meanwhile
        os.kill(old_pid, signal.SIGKILL)
        new_pid = wait_until(lambda: server.worker_requests()[1][0] not in (0, old_pid)
                             and server.worker_requests()[1][0], 10, "worker 1 to be respawned")
        stop.set()
        client.settimeout(0)
        try:  # still connected: the successor was forked while the listener held it
            self.assertNotEqual(client.recv(1, socket.MSG_PEEK), b"",
                                "the connection ended before the respawn; nothing was tested")
        except BlockingIOError:
            pass

        # THEN the successor holds no descriptor of the connection, and the client
        # gets its end once the listener gives up on it, not when the successor
        # exits (it keeps running)
        inode = server_socket_inode(port, client.getsockname()[1])
        self.assertIsNotNone(inode)
        self.assertNotIn(inode, socket_inodes(new_pid))
        client.settimeout(20)
        try:
            self.assertEqual(client.recv(65536), b"")
        except ConnectionResetError:
            pass  # an end too
        os.kill(new_pid, 0)  # the successor is still there: it did not end the connection
        self.assertEqual(http_get(port, "/metrics")[0], 200)


class StallableLogServer(Server):
    """A server whose log goes through a small pipe that the test can stop
    reading, so that whatever writes the log next blocks, as behind a slow
    log reader (a pipe to a logger, uWSGI's log master, a full disk)."""

    PIPE_BYTES = 4096  # the smallest a pipe can be: quick to fill

    def open_log(self):
        read_end, write_end = os.pipe()
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, self.PIPE_BYTES)
        # a second open file description of the pipe, non-blocking for the
        # filler only (O_NONBLOCK on uWSGI's own would make its writes fail
        # instead of wait)
        self.filler = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY | os.O_NONBLOCK)
        self.reading = threading.Event()
        self.reading.set()
        self.parked = threading.Event()
        threading.Thread(target=self._pump, args=(read_end,), daemon=True).start()
        return os.fdopen(write_end, "wb")

    def _pump(self, read_end):
        with open(self.log_path, "ab") as log:
            while True:
                data = os.read(read_end, 65536)
                if not data:
                    break
                log.write(data)
                log.flush()
                if not self.reading.is_set():
                    self.parked.set()
                    self.reading.wait()
                    self.parked.clear()
        os.close(read_end)

    def stall_log(self):
        """Stops reading the log and fills its pipe: the next write to it blocks."""
        self.reading.clear()
        os.write(self.filler, b"\n")  # wakes the reader, which then parks
        wait_until(self.parked.is_set, 10, "the log's reader to stop")
        for size in (1024, 1):
            while True:
                try:
                    os.write(self.filler, b"-" * (size - 1) + b"\n")
                except OSError as e:
                    if e.errno != errno.EAGAIN:
                        raise
                    break

    def resume_log(self):
        self.reading.set()

    def close(self):
        self.resume_log()
        super().close()
        os.close(self.filler)


class LogStallTest(UwsgiTestCase):

    def test_a_stalled_log_does_not_stall_the_report(self):
        # GIVEN a leaking app with --leakwatch-http, whose log stops being read
        # (its pipe full: the next log line blocks its writer)
        port = free_port()
        server = self.server("leak_bytes.py", cls=StallableLogServer, summary=0, args=[
            "--leakwatch-threshold", "512k", "--env", "LEAK_SIZE=16384",
            "--leakwatch-http", f":{port}"])
        self.assertEqual(http_get(port, "/report.json")[0], 200)
        server.stall_log()
        self.addCleanup(server.resume_log)  # before the server stops: it logs as it goes

        # WHEN the leak is found: its LEAK line cannot be written
        def alerted():
            for _ in range(20):
                server.get("/")
            status, body = http_get(port, "/report.json")  # its usual 10 s deadline
            self.assertEqual(status, 200)
            return [a for a in json.loads(body)["alerts"] if a["kind"] == "LEAK"]
        alerts = wait_until(alerted, 90, "a LEAK in /report.json")

        # THEN the report still answers and has the alert; /metrics and the page too
        self.assertTrue(alerts[0]["text"].startswith("[leakwatch] LEAK "), alerts)
        self.assertEqual(http_get(port, "/metrics")[0], 200)
        self.assertEqual(http_get(port, "/")[0], 200)
        self.assertNotIn("[leakwatch] LEAK", server.log())  # the line was held up indeed
        # and once the log is read again, the line comes
        server.resume_log()
        wait_until(lambda: "[leakwatch] LEAK" in server.log(), 20, "the LEAK line in the log")


if __name__ == "__main__":
    import unittest
    unittest.main()

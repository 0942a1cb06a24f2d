"""Each request queues a spooler task (--spooler DIR); each task keeps the
64 KiB report it built in a module-level list: a leak in the spooler, whose
tasks run outside any request. The app itself keeps nothing."""
import uwsgi

REPORTS = []


def build_report(args):
    REPORTS.append(bytearray(65536))  # LEAK-LINE
    return uwsgi.SPOOL_OK


uwsgi.spooler = build_report


def application(environ, start_response):
    uwsgi.spool({b"report": b"daily"})
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

"""A scheduler thread in each worker keeps a 2.6 KB job record every 2 ms
in a list nobody trims, while the worker serves about a request a second:
growth that no request drives (run with --enable-threads --lazy-apps, so
each worker starts its own thread)."""
import threading
import time

DONE = []


def scheduler():
    while True:
        DONE.append(bytes(2600))  # LEAK-LINE
        time.sleep(0.002)


threading.Thread(target=scheduler, daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

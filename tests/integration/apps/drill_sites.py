"""Fault drill app: /burst creates N_SITES (default 50,000) distinct
allocation sites in one request: generated source, one line per site, each
keeping a fresh small object in a module-level list, compiled in chunks of
CHUNK lines (default 1,000) under distinct file names (CPython finds a
frame's line by scanning its code's line table, so one 50,000-line code
object makes every sampled allocation in it slow). With NEW_CODE_PER_PID=1
the file names carry the worker's pid, so each worker generation runs code
no earlier one ran, as after a deploy. /leak keeps LEAK_SIZE bytes (default
32 KiB) a request at one line. Anything else is a normal, flat request.
All answer with the worker's pid and the kept count."""
import os

KEPT = []
LEAKED = []
N_SITES = int(os.environ.get("N_SITES", "50000"))
CHUNK = int(os.environ.get("CHUNK", "1000"))
NEW_CODE_PER_PID = os.environ.get("NEW_CODE_PER_PID") == "1"
LEAK_SIZE = int(os.environ.get("LEAK_SIZE", "32768"))
BURSTS = [0]


def burst():
    # bytes(n) allocates at run time (a literal would be folded at compile
    # time), so each generated line is a site of its own
    BURSTS[0] += 1
    name = f"pid-{os.getpid()}" if NEW_CODE_PER_PID else f"burst-{BURSTS[0]}"
    for start in range(0, N_SITES, CHUNK):
        lines = min(CHUNK, N_SITES - start)
        source = "".join(f"KEPT.append(bytes({64 + i % 64}))\n" for i in range(lines))
        code = compile(source, f"<drill-{name}-{start}>", "exec")
        exec(code, {"KEPT": KEPT})


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/burst":
        burst()
    elif environ.get("PATH_INFO") == "/leak":
        LEAKED.append(bytearray(LEAK_SIZE))  # LEAK-LINE
    body = f"{os.getpid()} {len(KEPT)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

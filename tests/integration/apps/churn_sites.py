"""Eviction drill app: each worker generation runs code no earlier one ran,
like a deploy per generation. /burst creates N_SITES (default 14,000)
allocation sites in generated source named after the worker's pid, one line
a site, each keeping a small object until the worker ends (compiled in
chunks of CHUNK lines, as in drill_sites.py). /leak keeps LEAK_SIZE bytes a
request at one line. Anything else is a flat request. All answer with the
worker's pid."""
import os

KEPT = []
LEAKED = []
N_SITES = int(os.environ.get("N_SITES", "14000"))
CHUNK = int(os.environ.get("CHUNK", "1000"))
LEAK_SIZE = int(os.environ.get("LEAK_SIZE", "32768"))


def burst():
    for start in range(0, N_SITES, CHUNK):
        lines = min(CHUNK, N_SITES - start)
        source = "".join(f"KEPT.append(bytes({64 + i % 64}))\n" for i in range(lines))
        code = compile(source, f"<churn-{os.getpid()}-{start}>", "exec")
        exec(code, {"KEPT": KEPT})


def application(environ, start_response):
    path = environ.get("PATH_INFO")
    if path == "/burst":
        burst()
    elif path == "/leak":
        LEAKED.append(bytearray(LEAK_SIZE))  # LEAK-LINE
    body = f"{os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

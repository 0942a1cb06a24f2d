"""The worker engine attributes sampled allocations to the right site, with
plausible (sampled) or exact (exact mode) byte estimates, with and without
threads; library-internal growth is traced back to the application line."""
import os
import re
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import APPS, UwsgiTestCase, leak_line, wait_until

SITES_HEAD = re.compile(r"^\[leakwatch\] SITES worker (\d+) pid (\d+) after (\d+) requests: "
                        r".* (\d+) samples, (\d+) lost")
SITE_LINE = re.compile(r"^\[leakwatch\]   (.+):(-?\d+) in (.+)\(\): .* live \((-?\d+) bytes\)")
FROM_APP = re.compile(r"^\[leakwatch\]     from the application at (.+):(\d+) in (.+)\(\)$")
LIST_FREELIST = 80  # lists CPython's free list keeps (PyList_MAXFREELIST, 3.11 to 3.15)


def site_reports(server):
    """The latest SITES block of each worker: {wid: {"requests", "lost", "sites": [...]}}."""
    latest, current = {}, None
    for line in server.log().splitlines():
        m = SITES_HEAD.match(line)
        if m:
            current = {"requests": int(m[3]), "lost": int(m[5]), "sites": []}
            latest[int(m[1])] = current
            continue
        m = SITE_LINE.match(line)
        if m and current is not None:
            current["sites"].append({"file": m[1], "line": int(m[2]), "function": m[3],
                                     "bytes": int(m[4]), "app": None})
            continue
        m = FROM_APP.match(line)
        if m and current is not None and current["sites"]:
            current["sites"][-1]["app"] = (m[1], int(m[2]), m[3])
    return latest


def send(server, n, concurrency=1, path="/"):
    with ThreadPoolExecutor(concurrency) as pool:
        assert list(pool.map(lambda _: server.get(path)[0], range(n))) == [200] * n


class EngineTest(UwsgiTestCase):

    def site(self, report, path, line):
        matches = [s for s in report["sites"]
                   if s["file"] == path and s["line"] == line]
        self.assertEqual(len(matches), 1, report["sites"])
        return matches[0]

    def test_exact_mode_counts_the_leak_to_the_byte(self):
        # GIVEN exact mode and an app leaking 16 KiB bytes objects per request
        server = self.server("leak_bytes.py", args=["--leakwatch-sample-rate", "exact",
                                                     "--env", "LEAK_SIZE=16384"])
        # WHEN 120 requests are served
        send(server, 119, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        # THEN each worker names the leaking line, and its live bytes are
        # exactly requests x sizeof(bytes(16384)) plus the list's own array
        app = os.path.join(APPS, "leak_bytes.py")
        for wid, rep in reps.items():
            site = self.site(rep, app, leak_line("leak_bytes.py"))
            self.assertEqual(site["function"], "application")
            floor = rep["requests"] * (16384 + 33)
            self.assertGreaterEqual(site["bytes"], floor)
            self.assertLessEqual(site["bytes"], floor + rep["requests"] * 8 * 2 + 256)
            self.assertEqual(rep["lost"], 0)

    def wait_reports_until_stable(self, server, workers=2, path="/"):
        """Each worker's latest SITES block, once they cover every request.
        The requests that make a worker log go to `path`, the test's own: a
        report's request count must be the test's requests (free_lists.py's
        "/" keeps a list; on a loaded machine, 200 of those in a /grown test
        halved its per-request figure)."""
        def ready():
            reps = site_reports(server)
            counts = server.worker_requests()
            live = {w: c for w, c in counts.items() if c[0] > 0}
            if len(reps) == len(live) == workers and \
                    all(reps[w]["requests"] == live[w][1] for w in live):
                return reps
            server.get(path)  # a worker logs on a request once the interval passed
            return None
        return wait_until(ready, 90, "SITES lines covering every request")

    def donor_bytes(self, path, marker):
        """Exact mode, 400 requests to `path` of free_lists.py: per worker, the
        bytes at the line marked `marker`, and the free lists' site."""
        server = self.server("free_lists.py", args=["--leakwatch-sample-rate", "exact"])
        send(server, 399, concurrency=2, path=path)
        reps = self.wait_reports_until_stable(server, path=path)
        app = os.path.join(APPS, "free_lists.py")
        with open(app) as f:
            donor = next(n for n, l in enumerate(f, 1) if marker in l)
        held = {}
        for wid, rep in reps.items():
            self.assertEqual(rep["lost"], 0)
            shelf = [s for s in rep["sites"] if s["file"] == "<CPython free lists>"]
            held[wid] = (rep, sum(s["bytes"] for s in rep["sites"]
                                  if s["file"] == app and s["line"] == donor), shelf)
        return held

    def test_cells_made_on_entry_are_the_entered_function_s(self):
        # GIVEN exact mode and an app that keeps a closure per request, whose
        # cell application() makes before its first line runs, called from C
        server = self.server("closures.py", args=["--leakwatch-sample-rate", "exact"])
        # WHEN 200 requests are served
        send(server, 199, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        app = os.path.join(APPS, "closures.py")
        with open(app) as f:
            entry = next(n for n, l in enumerate(f, 1) if "# ENTRY-LINE" in l)
        for wid, rep in reps.items():
            # THEN the cells (40 bytes each) are charged to application()'s
            # def line, not to "<no Python frame>" (where they were before)
            cells = self.site(rep, app, entry)
            self.assertEqual(cells["function"], "application")
            self.assertGreaterEqual(cells["bytes"], rep["requests"] * 40, rep["sites"])

    def test_objects_revived_from_free_lists_are_charged_to_the_reviving_line(self):
        # GIVEN exact mode and an app whose scratch list dies at one line
        # while a new list is kept per request at another (CPython hands the
        # dead list's block out again without calling the allocator)
        # WHEN 400 requests are served
        for wid, (rep, at_donor, shelf) in self.donor_bytes("/", "# DONOR-LINE").items():
            # THEN the donor line holds nothing per request, and the keeping
            # line holds what it allocates (a one-item array, 8 bytes) and
            # the revived lists (56 bytes each): all but those the free list
            # held when the hooks went in, never sampled (at most its
            # capacity, 80 lists in CPython 3.11 to 3.15); the free lists'
            # site does not grow with them (when it kept them, before the
            # hooks followed revivals, it held about 56 bytes a request)
            keeper = self.line_bytes(rep, "# LEAK-LINE")
            self.assertLessEqual(at_donor, 1024, rep["sites"])
            self.assertGreaterEqual(keeper, (rep["requests"] - LIST_FREELIST) * 56
                                    + rep["requests"] * 8, rep["sites"])
            self.assertLessEqual(sum(s["bytes"] for s in shelf), LIST_FREELIST * 56, rep["sites"])

    def test_key_tables_revived_from_free_lists_do_not_charge_their_first_line(self):
        # GIVEN a small dict that dies at one line per request while another
        # line keeps a new small dict: its key table is the dead one's
        # WHEN 400 requests are served
        for wid, (rep, at_donor, shelf) in self.donor_bytes("/keys", "# DONOR-KEYS-LINE").items():
            # THEN the donor line holds nothing per request (without the key
            # tables' shelf it held one table, about 100 bytes, per request;
            # the kept dict makes no allocation of its own, so the next the
            # hooks see is the donor line's, a turn of the loop later: a
            # revival seen only after a loop went round stays on the shelf)
            self.assertLessEqual(at_donor, 1024, rep["sites"])
            self.assertEqual(len(shelf), 1, rep["sites"])

    def test_key_tables_a_resize_shelved_do_not_charge_their_first_line(self):
        # GIVEN a dict that outgrows its first key table at one line (the
        # table goes to the free list, the dict lives on) in odd requests,
        # and a new small dict kept in even requests
        # WHEN 400 requests are served
        for wid, (rep, at_donor, shelf) in self.donor_bytes("/resize",
                                                           "# DONOR-RESIZE-LINE").items():
            # THEN the growing line holds nothing between requests
            self.assertLessEqual(at_donor, 1024, rep["sites"])
            self.assertEqual(len(shelf), 1, rep["sites"])

    def test_key_tables_a_resize_shelved_are_charged_to_the_reviving_line(self):
        # GIVEN exact mode and an app whose dict outgrows its first key table
        # at one line (to the free list, the dict lives on), then keeps a new
        # small dict, whose key table is that one
        # WHEN 400 requests are served
        for wid, (rep, at_grown, shelf) in self.donor_bytes("/grown", "# GROWN-LINE").items():
            # THEN the growing line holds nothing between requests (before
            # the hooks followed revivals it held one table, about 100 bytes,
            # a request), and the keeping line holds the tables
            keeper = self.line_bytes(rep, "# KEEP-GROWN-LINE")
            self.assertLessEqual(at_grown, 1024, rep["sites"])
            self.assertGreaterEqual(keeper, (rep["requests"] - LIST_FREELIST) * 100, rep["sites"])

    def line_bytes(self, rep, marker):
        """Bytes free_lists.py's line marked `marker` holds in a worker's report."""
        app = os.path.join(APPS, "free_lists.py")
        with open(app) as f:
            line = next(n for n, l in enumerate(f, 1) if marker in l)
        return sum(s["bytes"] for s in rep["sites"] if s["file"] == app and s["line"] == line)

    def test_code_compiled_per_request_is_one_site_and_is_freed(self):
        # GIVEN exact mode and an app that builds a namedtuple class per
        # request (its code compiled anew each time) and drops it
        server = self.server("generated_code.py", processes=1,
                             args=["--leakwatch-sample-rate", "exact"])
        # WHEN 300 requests are served
        for _ in range(299):
            status, body = server.get("/")
        requests, alive = map(int, body.split())
        reps = self.wait_reports_until_stable(server, workers=1)
        # THEN the code objects die as they would without leakwatch (no site
        # holds one), and the generated code is one site, not one per request
        self.assertGreaterEqual(requests, 299)
        self.assertEqual(alive, 0)
        head = [l for l in server.leakwatch_lines() if l.startswith("[leakwatch] SITES")][-1]
        sites = int(re.search(r" in (\d+) sites", head)[1])
        self.assertLess(sites, 200, head)
        generated = {(s["file"], s["line"], s["function"]) for s in reps[1]["sites"]
                     if s["file"] == "<string>"}
        self.assertLessEqual(len(generated), 1, reps[1]["sites"])

    def test_deeply_nested_containers_die_without_crashing_the_worker(self):
        # GIVEN leakwatch's hooks on the deallocators of lists, tuples and dicts
        server = self.server("free_lists.py", args=["--leakwatch-sample-rate", "exact"])
        before = server.worker_requests()
        # WHEN chains of 1,000,000 nested containers are dropped, in both workers
        for _ in range(4):
            self.assertEqual(server.get("/deep", timeout=60)[0], 200)
        # THEN no worker died: CPython's trashcan still bounds the recursion
        after = server.worker_requests()
        self.assertEqual({w: p for w, (p, _) in before.items()},
                         {w: p for w, (p, _) in after.items()})
        self.assertNotIn("signal 11", server.log())

    def test_sampled_estimate_is_plausible(self):
        # GIVEN the sampler at 4 KiB and a 16 KiB-per-request leak
        server = self.server("leak_bytes.py", args=["--leakwatch-sample-rate", "4k",
                                                     "--env", "LEAK_SIZE=16384"])
        send(server, 399, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        # THEN the estimate per worker is within 20% of the truth (about 5 sigma)
        for wid, rep in reps.items():
            site = self.site(rep, os.path.join(APPS, "leak_bytes.py"), leak_line("leak_bytes.py"))
            truth = rep["requests"] * (16384 + 33)
            self.assertLess(abs(site["bytes"] - truth) / truth, 0.20, (site, truth))

    def test_threads_lose_nothing(self):
        # GIVEN 2 workers x 4 threads in exact mode
        server = self.server("leak_bytes.py", args=["--threads", "4", "--leakwatch-sample-rate",
                                                     "exact", "--env", "LEAK_SIZE=4096"])
        # WHEN 200 requests arrive 8 at a time
        send(server, 199, concurrency=8)
        reps = self.wait_reports_until_stable(server)
        # THEN the leak over all workers is every request's 4 KiB, exactly
        app = os.path.join(APPS, "leak_bytes.py")
        total_requests = sum(r["requests"] for r in reps.values())
        total_bytes = sum(self.site(r, app, leak_line("leak_bytes.py"))["bytes"]
                          for r in reps.values())
        self.assertGreaterEqual(total_bytes, total_requests * (4096 + 33))
        self.assertLessEqual(total_bytes, total_requests * (4096 + 33 + 16) + 512)

    def test_library_growth_is_traced_to_the_application_line(self):
        # GIVEN an app that creates a logger per request (growth inside logging)
        server = self.server("leak_logger.py", args=["--leakwatch-sample-rate", "1k"])
        send(server, 299, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        # THEN the largest sites come from logging, and name the app's line
        app = (os.path.join(APPS, "leak_logger.py"), leak_line("leak_logger.py"), "application")
        traced = [s for r in reps.values() for s in r["sites"] if s["app"] == app]
        self.assertTrue(traced, reps)
        self.assertTrue(any("logging" in s["file"] for s in traced), traced)

    def test_realloc_counts_only_the_live_block(self):
        # GIVEN a bytearray grown by 1000 bytes per request (realloc in place or moved)
        server = self.server("grow_buffer.py", args=["--leakwatch-sample-rate", "exact"])
        send(server, 99, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        # THEN the site holds the buffer's current size, not the sum of every size it had
        for wid, rep in reps.items():
            site = self.site(rep, os.path.join(APPS, "grow_buffer.py"), leak_line("grow_buffer.py"))
            size = rep["requests"] * 1000
            self.assertGreaterEqual(site["bytes"], size)
            self.assertLessEqual(site["bytes"], size * 1.25 + 4096)

    def test_freeing_prefork_objects_is_harmless(self):
        # GIVEN objects allocated before the fork, freed request by request
        server = self.server("free_prefork.py", args=["--leakwatch-sample-rate", "exact"])
        send(server, 199, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        # THEN the workers keep serving and no site goes negative
        for rep in reps.values():
            self.assertTrue(all(s["bytes"] >= 0 for s in rep["sites"]), rep["sites"])

    def gc_run(self, policy):
        server = self.server("cycles.py", args=["--leakwatch-sample-rate", "exact",
                                                 "--leakwatch-gc", policy])
        send(server, 99, concurrency=2)
        reps = self.wait_reports_until_stable(server)
        app = os.path.join(APPS, "cycles.py")
        return {w: (r["requests"], sum(s["bytes"] for s in r["sites"]
                                       if s["file"] == app and s["line"] == leak_line("cycles.py")))
                for w, r in reps.items()}

    def test_gc_request_policy_keeps_cyclic_garbage_from_looking_like_growth(self):
        # GIVEN cyclic garbage and Python's gc disabled by the app
        # WHEN leakwatch collects after every request
        # THEN the garbage's site holds at most one request's worth
        for wid, (requests, live) in self.gc_run("request").items():
            self.assertLessEqual(live, 2 * (10240 + 33), (wid, requests, live))

    def test_gc_off_shows_the_garbage(self):
        # the control: the same app with leakwatch's gc off accumulates it
        for wid, (requests, live) in self.gc_run("off").items():
            self.assertGreaterEqual(live, requests * (10240 + 33), (wid, requests, live))

    def test_the_holder_walk_s_collection_is_leakwatch_s(self):
        # GIVEN a leak, and leakwatch's own collections due only every
        # 1,000,000 requests
        server = self.server("leak_bytes.py", args=["--leakwatch-threshold", "256k",
                                                     "--leakwatch-gc", "1000000"])

        def walked():
            m = re.search(r"^\[leakwatch\] HELD .* on worker (\d+) pid", server.log(), re.M)
            if not m:
                send(server, 10)
            return m
        worker = int(wait_until(walked, 60, "a HELD line")[1])

        # WHEN the worker that walked (collecting garbage first) reports
        def counted():
            heads = [l for l in server.log().splitlines()
                     if l.startswith(f"[leakwatch] SITES worker {worker} pid")]
            last = heads[-1] if heads else ""
            n = re.search(r", (\d+) collections$", last)
            if not (n and int(n[1]) >= 1):
                send(server, 10)
                return None
            return int(n[1])
        # THEN its collections count the walk's: the gc policy reckons its
        # next collection from it (before, the walk's went uncounted: 0)
        self.assertGreaterEqual(wait_until(counted, 60, "a SITES line counting a collection"), 1)

    def test_gc_off_the_holder_walk_collects_nothing_either(self):
        # GIVEN the same app with leakwatch's gc off, served until its
        # garbage is announced and a worker walked for what holds it
        server = self.server("cycles.py", args=["--leakwatch-sample-rate", "exact",
                                                 "--leakwatch-gc", "off"])
        send(server, 600, concurrency=2)

        def held():
            lines = [l for l in server.log().splitlines() if l.startswith("[leakwatch] HELD")]
            if not lines:
                server.get("/")  # a worker walks after its next request
            return lines or None
        lines = wait_until(held, 60, "a HELD line")
        # THEN the walk found the garbage, not a collection's leftovers (it
        # had collected first whatever the setting: "no sampled object of
        # the site is live"), and every request's garbage is still there
        self.assertIn("(Node instance)", lines[0])
        app = os.path.join(APPS, "cycles.py")
        for wid, rep in self.wait_reports_until_stable(server).items():
            live = sum(s["bytes"] for s in rep["sites"]
                       if s["file"] == app and s["line"] == leak_line("cycles.py"))
            self.assertGreaterEqual(live, rep["requests"] * (10240 + 33), (wid, rep["requests"], live))


if __name__ == "__main__":
    unittest.main()

"""A real framework no one here wrote: a Django site (Debian's
python3-django; routing, middleware, templates, forms, the ORM on SQLite)
served by uWSGI with the hooks armed. Its everyday traffic keeps the
workers alive and raises no alert; a view that keeps what it looked up is
announced at its line."""
import os
import re
import unittest

from harness import APPS, UwsgiTestCase
from test_detection import drive, drive_until, named

APP = os.path.join(APPS, "django_site.py")
ALERT = re.compile(r"^\[leakwatch\] (LEAK|NATIVE|OOM) ", re.M)
HELD = re.compile(r"^\[leakwatch\] HELD .*? held by: (.*)$", re.M)


def marked(tag):
    with open(APP) as f:
        return next(n for n, line in enumerate(f, 1) if f"# {tag}" in line)


def everyday(n):
    """A site's mix: pages, lookups, searches (some invalid), never /track."""
    return ["/", f"/items/{n}", f"/search?q=product+{n % 50}&limit={n % 7 + 1}",
            "/search?q="][n % 4]


class DjangoTest(UwsgiTestCase):

    def test_everyday_traffic_keeps_the_workers_and_raises_no_alert(self):
        # GIVEN the Django site at the default settings, two workers
        server = self.server("django_site.py", summary=0, report=True)
        pids = {w: pid for w, (pid, _) in server.worker_requests().items()}
        # WHEN 8,000 everyday requests come
        drive(server, [everyday(n) for n in range(8000)], 8000)
        # THEN, once the analyst has looked at every one: no alert of any
        # kind, and the workers that served them are the ones that started
        doc = server.wait_judged()
        self.assertEqual([a["text"] for a in doc["alerts"]], [])
        self.assertEqual(ALERT.findall(server.log()), [], server.leakwatch_lines()[-20:])
        self.assertEqual({w: pid for w, (pid, _) in server.worker_requests().items()}, pids)
        self.assertGreaterEqual(sum(w["requests"] for w in doc["workers"]), 8000)

    def test_a_view_that_keeps_model_instances_is_named_at_its_line(self):
        # GIVEN the Django site and a 256 KiB threshold
        server = self.server("django_site.py", summary=0, report=True,
                             args=["--leakwatch-threshold", "256k"])
        # WHEN /track keeps an ORM instance per request
        found = drive_until(server, lambda: named(server), "LEAK line", paths=["/track"],
                            limit=6000, batch=20)
        # THEN the first alert names the view's line, however much of the
        # instance Django's ORM allocated for it
        self.assertEqual(found[0], (APP, marked("TRACK-LINE")), server.log())
        # AND what holds it is the list, not the classes Django's SQLite
        # backend makes per connection, which are garbage by then
        held = drive_until(server, lambda: HELD.findall(server.log()), "HELD line",
                           paths=["/track"], limit=400)
        self.assertRegex(held[0], r"TRACKED \(list, \d+ items\) <- module ", server.log())


if __name__ == "__main__":
    unittest.main()

"""Code generated at run time (dataclasses, SQLAlchemy's model constructors:
file "<string>") counts as library code: a leak through it is named at the
application line that called it, and no site is named "<string>"."""
import json
import os
import unittest

from harness import APPS, UwsgiTestCase, free_port, http_get
from test_detection import drive_until, named

APP = os.path.join(APPS, "leak_generated.py")


def marked(tag):
    with open(APP) as f:
        return next(n for n, line in enumerate(f, 1) if f"# {tag}" in line)


class GeneratedCodeTest(UwsgiTestCase):

    def _leak_through(self, path, tag):
        port = free_port()
        server = self.server("leak_generated.py", summary=0, report=True,
                             args=["--leakwatch-threshold", "256k", "--leakwatch-http", f":{port}"])
        found = drive_until(server, lambda: named(server), "LEAK line",
                            paths=[f"{path}?n={i}" for i in range(8000)], limit=8000, batch=50)
        # THEN the application line is named first, never "<string>"
        self.assertEqual(found[0], (APP, marked(tag)), server.log())
        self.assertNotIn("<string>", " ".join(f for f, _ in found))
        # and generated code is no site of its own: the report lists none
        # (its frames stay in the tracebacks of the library sites it rolls into)
        doc = json.loads(http_get(port, "/report.json")[1])
        self.assertEqual([s for s in doc["sites"] if s["file"].startswith("<string")], [],
                         doc["sites"])

    def test_a_leak_through_a_dataclass_is_named_at_the_calling_line(self):
        # GIVEN an app keeping a dataclass instance per request
        self._leak_through("/dataclass", "DATACLASS-LINE")

    def test_a_leak_through_an_orm_constructor_is_named_at_the_calling_line(self):
        # GIVEN an app adding an ORM object per request to a session never closed
        self._leak_through("/orm", "ORM-LINE")


if __name__ == "__main__":
    unittest.main()

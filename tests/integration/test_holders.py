"""Who holds a leak: once a site is announced, the worker that holds most
of it walks from its sampled live objects to what keeps them (issue 18)."""
import os
import re
import unittest

from harness import APPS, UwsgiTestCase, wait_until

HELD = re.compile(r"^\[leakwatch\] HELD (.+):(\d+) in (.+)\(\) \(worker \d+ pid \d+\): "
                  r"held by: (.+)$", re.M)
# several sampled objects are walked from: how many of those that found a holder agree
AGREE = r"\((\d+) of (\d+) samples, [\d.]+ ms\)$"


class HoldersTest(UwsgiTestCase):

    def held(self, app):
        server = self.server(app, summary=0, args=["--leakwatch-threshold", "256k"])

        def said():
            for _ in range(20):
                self.assertEqual(server.get("/req")[0], 200)
            return HELD.search(server.log())
        wait_until(said, 90, "a HELD line")  # announced by 2T: some 500 requests
        found = HELD.search(server.log())
        self.assertIn("[leakwatch] LEAK", server.log())
        agree = re.search(AGREE, found[4])
        self.assertIsNotNone(agree, found[0])
        self.assertGreater(2 * int(agree[1]), int(agree[2]), found[0])  # most samples agree
        return found

    def test_a_class_level_list_is_held_by_its_class(self):
        found = self.held("held_class_list.py")
        self.assertEqual(found[3], "Profiler.end", found[0])
        self.assertRegex(found[4], r"^Profiler\.records \(list, \d+ items\) <- class Profiler "
                                   + AGREE, found[0])

    def test_a_module_level_dict_is_held_by_its_module(self):
        # the dict holds only strings and bytes: CPython does not track it
        found = self.held("held_module_dict.py")
        self.assertRegex(found[4], r"^CACHE \(dict, \d+ items\) <- module "
                                   + re.escape(os.path.join(APPS, "held_module_dict.py")) + " "
                                   + AGREE, found[0])

    def test_a_mutable_default_is_held_by_its_function(self):
        found = self.held("held_default.py")
        self.assertRegex(found[4], r"^\(list, \d+ items\) <- defaults of function remember\(\) "
                                   + AGREE, found[0])

    def test_a_closure_cell_is_held_by_its_function(self):
        found = self.held("held_closure.py")
        self.assertRegex(found[4], r"^\(list, \d+ items\) <- \(closure cell\) <- closure of "
                                   r"function make_recorder\.<locals>\.record\(\) " + AGREE,
                         found[0])

    def test_a_logger_per_request_is_held_by_the_logging_manager(self):
        found = self.held("leak_logger.py")
        self.assertRegex(found[4], r"^\(dict, \d+ items\) <- Logger\.manager \(Manager instance\) "
                                   r"<- class Logger " + AGREE, found[0])


if __name__ == "__main__":
    unittest.main()

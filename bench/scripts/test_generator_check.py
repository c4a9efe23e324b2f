"""The generator check's own logic: intervals, what is impossible, when it fails."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import generator_check as gc  # noqa: E402


def fig(cpu_us, decode_us, errors=0):
    return {"rps": 80000.0, "cpu_us": cpu_us, "decode_us": decode_us, "net_cpu_us": cpu_us - decode_us,
            "errors": errors, "missed": 0, "requests": 1000}


class GeneratorCheck(unittest.TestCase):
    def test_interval_is_a_student_t_interval_over_the_repeats(self):
        ci = gc.interval([1.0, 2.0, 3.0])
        self.assertAlmostEqual(ci["mean"], 2.0)
        self.assertAlmostEqual(ci["hi"] - ci["mean"], 4.303 * 1.0 / 3 ** 0.5, places=3)
        self.assertIsNone(gc.interval([5.0])["lo"])

    def test_decoding_longer_than_the_clients_cpu_is_impossible(self):
        # The 3 s run of issue 33: 14.9 µs of decoding against 11.8 µs of client CPU.
        self.assertIn("above the client's whole CPU", gc.impossible("grpc", fig(11.8, 14.9))[0])
        self.assertEqual(gc.impossible("rest", fig(12.1, 1.9)), [])
        self.assertIn("3 errors", gc.impossible("rest", fig(12.1, 1.9, errors=3))[0])

    def test_a_missed_goal_exits_1_and_an_impossible_figure_2(self):
        met = {"endpoint": "h1", "connections": 16, "goals_met": True}
        slow = {"endpoint": "h2c", "connections": 256, "goals_met": False}
        opened = {"goals_met": True}
        self.assertEqual(gc.judge([met], opened, []), ([], 0))
        self.assertEqual(gc.judge([met, slow], opened, []), (["h2c at 256"], 1))
        self.assertEqual(gc.judge([met], {"goals_met": False}, []), (["open loop"], 1))
        self.assertEqual(gc.judge([met], opened, ["decode above CPU"])[1], 2)


if __name__ == "__main__":
    unittest.main()

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import unittest
from decimal import Decimal

from dualrec.qc import sampling


class SamplingTestCase(unittest.TestCase):
    "Test the QC sampling arithmetic"

    def test_sample_size_is_exact_ceiling(self):
        "The sample is ceil(ratio × population), in exact arithmetic"
        for ratio, population, expected in [
                ('0.1', 30, 3),     # a float ceil gives 4
                ('0.1', 31, 4),
                ('0.1', 1, 1),
                ('0.1', 0, 0),
                ('0.0001', 1, 1),
                ('0.3', 10, 3),
                ('0.7', 10, 7),
                (1, 7, 7),
                (Decimal('0.05'), 200, 10),
                (Decimal('0.05'), 201, 11),
                ]:
            with self.subTest(ratio=ratio, population=population):
                self.assertEqual(
                    sampling.sample_size(ratio, population), expected)

    def test_sample_size_refuses_bad_ratio(self):
        "A ratio outside [0, 1] or a negative population is refused"
        for ratio, population in [('1.01', 3), ('-0.1', 3), ('0.5', -1)]:
            with self.subTest(ratio=ratio), self.assertRaises(ValueError):
                sampling.sample_size(ratio, population)

    def test_draw_is_reproducible(self):
        "The same seed and population always draw the same tickets"
        population = list(range(100, 160))
        first = sampling.draw('abc', population, 7)
        self.assertEqual(len(first), 7)
        self.assertEqual(len(set(first)), 7)
        self.assertTrue(set(first) <= set(population))
        self.assertEqual(sampling.draw('abc', list(reversed(population)), 7),
            first)
        self.assertNotEqual(sampling.draw('abd', population, 7), first)

    def test_draw_covers_the_population(self):
        "Every ticket can be drawn: no bias to the first ids"
        population = list(range(20))
        seen = set()
        for seed in range(200):
            seen.update(sampling.draw(str(seed), population, 2))
        self.assertEqual(seen, set(population))

    def test_draw_larger_than_population_refused(self):
        "A sample cannot be larger than its population"
        with self.assertRaises(ValueError):
            sampling.draw('s', [1, 2], 3)

    def test_seed_is_random(self):
        "Two new seeds differ"
        self.assertNotEqual(sampling.new_seed(), sampling.new_seed())
        self.assertEqual(len(sampling.new_seed()), 16)

    def test_period_bounds(self):
        "Days, ISO weeks (from Monday) and calendar months"
        day = dt.date(2024, 2, 15)   # a Thursday of a leap February
        self.assertEqual(sampling.period_bounds('daily', day), (day, day))
        self.assertEqual(sampling.period_bounds('weekly', day),
            (dt.date(2024, 2, 12), dt.date(2024, 2, 18)))
        self.assertEqual(sampling.period_bounds('monthly', day),
            (dt.date(2024, 2, 1), dt.date(2024, 2, 29)))
        self.assertEqual(
            sampling.period_bounds('monthly', dt.date(2026, 12, 31)),
            (dt.date(2026, 12, 1), dt.date(2026, 12, 31)))
        with self.assertRaises(ValueError):
            sampling.period_bounds('yearly', day)

    def test_previous_period(self):
        "The period before the one holding a day"
        self.assertEqual(
            sampling.previous_period('monthly', dt.date(2026, 1, 10)),
            (dt.date(2025, 12, 1), dt.date(2025, 12, 31)))
        self.assertEqual(
            sampling.previous_period('weekly', dt.date(2026, 12, 1)),
            (dt.date(2026, 11, 23), dt.date(2026, 11, 29)))
        self.assertEqual(
            sampling.previous_period('daily', dt.date(2026, 3, 1)),
            (dt.date(2026, 2, 28), dt.date(2026, 2, 28)))

    def test_deadline_is_end_of_cooling_off(self):
        "A ticket completed on the 1st with 15 days is due on the 16th"
        self.assertEqual(sampling.deadline(dt.date(2026, 12, 1), 15),
            dt.date(2026, 12, 16))

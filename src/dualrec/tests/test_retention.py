# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import unittest

from dualrec.retention import (
    add_years, is_expired, retention_end)

D = dt.date


class RetentionTestCase(unittest.TestCase):
    "Test the retention rules"

    def test_period_classes(self):
        "5 years after the contract for ≤ 1 year, 10 years for longer"
        for period_class, contract_end, expected in [
                ('short', D(2026, 6, 30), D(2031, 6, 30)),
                ('long', D(2026, 6, 30), D(2036, 6, 30)),
                ('short', D(2028, 2, 29), D(2033, 2, 28)),
                ('long', D(2028, 2, 29), D(2038, 2, 28)),
                ]:
            with self.subTest(period_class=period_class, end=contract_end):
                self.assertEqual(
                    retention_end(period_class, contract_end), expected)

    def test_unknown_contract_end_keeps(self):
        "Without a contract end the retention is open-ended"
        self.assertIsNone(retention_end('short', None))
        self.assertIsNone(retention_end(
                'long', None, [(D(2026, 1, 1), D(2026, 3, 1))]))

    def test_active_hold_keeps(self):
        "An active legal hold keeps the recording whatever the dates"
        self.assertIsNone(retention_end('short', D(2020, 1, 1),
                [(D(2021, 1, 1), D(2021, 6, 1)), (D(2024, 1, 1), None)]))

    def test_released_hold_extends(self):
        "A released hold keeps it at least 2 years after the release"
        # the hold ends later than the normal retention: it wins
        self.assertEqual(retention_end('short', D(2020, 1, 1),
                [(D(2024, 5, 1), D(2024, 12, 31))]), D(2026, 12, 31))
        # the normal retention ends later: it stays
        self.assertEqual(retention_end('long', D(2020, 1, 1),
                [(D(2021, 5, 1), D(2021, 12, 31))]), D(2030, 1, 1))

    def test_unknown_period_class(self):
        "An unknown period class is refused, not guessed"
        with self.assertRaises(ValueError):
            retention_end('medium', D(2026, 1, 1))

    def test_is_expired(self):
        "Expired only the day after the retention end; never when open"
        end = D(2031, 6, 30)
        self.assertFalse(is_expired(end, D(2031, 6, 30)))
        self.assertTrue(is_expired(end, D(2031, 7, 1)))
        self.assertFalse(is_expired(None, D(2999, 1, 1)))

    def test_add_years(self):
        "Adding years keeps the day, 29 February becomes 28 February"
        self.assertEqual(add_years(D(2024, 2, 29), 1), D(2025, 2, 28))
        self.assertEqual(add_years(D(2024, 2, 29), 4), D(2028, 2, 29))
        self.assertEqual(add_years(D(2024, 3, 1), 10), D(2034, 3, 1))

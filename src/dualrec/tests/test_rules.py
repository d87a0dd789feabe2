# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import unittest

from dualrec.rules import (
    ALWAYS, ELDERLY, OPTIONAL, recording_mandatory, recording_obligation)


class RecordingRuleTestCase(unittest.TestCase):
    "Test the CIRC [2017] No. 54 recording rule"

    def test_obligation(self):
        "The obligation follows Article 6 for every category and channel"
        cases = [
            # category, period, channel, expected
            ('life', 'long', 'bank', ALWAYS),
            ('health', 'long', 'bank', ALWAYS),
            ('accident', 'long', 'bank', ALWAYS),
            ('life', 'long', 'agency', ELDERLY),
            ('life', 'long', 'direct', ELDERLY),
            ('life', 'long', 'phone', ELDERLY),
            ('life', 'short', 'bank', OPTIONAL),
            ('health', 'short', 'direct', OPTIONAL),
            ('investment_linked', 'short', 'direct', ALWAYS),
            ('investment_linked', 'long', 'agency', ALWAYS),
            ('auto', 'long', 'bank', OPTIONAL),
            ('property', 'short', 'bank', OPTIONAL),
            ('wealth', 'long', 'bank', OPTIONAL),
            ('loan', 'long', 'bank', OPTIONAL),
            (None, 'long', 'bank', OPTIONAL),
            ]
        for category, period, channel, expected in cases:
            with self.subTest(category=category, period=period,
                    channel=channel):
                self.assertEqual(
                    recording_obligation(category, period, channel),
                    expected)

    def test_mandatory_by_age(self):
        "Applicants of 60 or more must be recorded outside banks too"
        cases = [
            (None, False), (0, False), (59, False), (60, True), (85, True)]
        for age, expected in cases:
            with self.subTest(age=age):
                self.assertEqual(
                    recording_mandatory('life', 'long', 'direct', age),
                    expected)

    def test_mandatory_ignores_age_when_always(self):
        "A sale that must always be recorded is recorded at any age"
        for age in (None, 18, 70):
            with self.subTest(age=age):
                self.assertTrue(
                    recording_mandatory('life', 'long', 'bank', age))
                self.assertTrue(recording_mandatory(
                        'investment_linked', 'short', 'phone', age))

    def test_optional_ignores_age(self):
        "Short-term and non-personal products are never mandatory"
        for age in (None, 30, 90):
            with self.subTest(age=age):
                self.assertFalse(
                    recording_mandatory('life', 'short', 'direct', age))
                self.assertFalse(
                    recording_mandatory('auto', 'short', 'bank', age))

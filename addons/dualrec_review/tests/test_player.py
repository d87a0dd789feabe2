# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import unittest

from trytond.modules.dualrec_review.player import measure, node_offsets


class PlayerTestCase(unittest.TestCase):
    "Test what the review player shows beside the recording"

    def test_node_offsets(self):
        "Nodes are placed from the first start; unstarted ones are left out"
        start = dt.datetime(2026, 12, 2, 9, 0, 0)
        timeline = [
            {'name': "Consent", 'started_at': start + dt.timedelta(
                    seconds=2.5),
                'confirmed_at': start + dt.timedelta(seconds=9)},
            {'name': "Opening", 'started_at': start, 'confirmed_at': None},
            {'name': "Never shown", 'started_at': None,
                'confirmed_at': None},
            ]
        self.assertEqual(node_offsets(timeline), [
                ("Consent", 2.5, 9.0), ("Opening", 0.0, None)])
        self.assertEqual(node_offsets([]), [])

    def test_measure(self):
        "Ratios read as percentages, counts bare, other units kept"
        self.assertEqual(measure(0.3, 'ratio'), '30 %')
        self.assertEqual(measure(0.0, 'ratio'), '0 %')
        self.assertEqual(measure(2.0, 'count'), '2')
        self.assertEqual(measure(14.0, 's'), '14 s')
        self.assertEqual(measure(-23.5, 'LUFS'), '-23.5 LUFS')
        self.assertEqual(measure(None, 's'), '')
        self.assertEqual(measure(3.0, None), '3')

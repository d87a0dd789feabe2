# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import unittest
from decimal import Decimal

from dualrec import orders

ORDER = {'type': 1, 'direction': 'receivable', 'counterparty': 7,
    'branch': 3, 'currency': 2, 'date': dt.date(2026, 12, 2),
    'description': "洗车", 'extension': {'vehicle_model': "比亚迪 汉",
        'service_rating': 5}}
LINES = [{'product': 11, 'description': None, 'quantity': Decimal('3'),
        'unit_price': Decimal('35.50'), 'tax_rate': Decimal('0.06')}]


def variant(order=None, lines=None):
    result_order = dict(ORDER, **(order or {}))
    result_lines = [dict(LINES[0], **(lines or {}))]
    return result_order, result_lines


class FingerprintTestCase(unittest.TestCase):
    "Test the fingerprint of the content of an order"

    def test_same_content(self):
        "The same content in other spellings has the same fingerprint"
        expected = orders.fingerprint(ORDER, LINES)
        self.assertRegex(expected, '^[0-9a-f]{64}$')
        for name, order, lines in [
                ('quantity int', {}, {'quantity': 3}),
                ('quantity 3.0000', {}, {'quantity': Decimal('3.0000')}),
                ('quantity float', {}, {'quantity': 3.0}),
                ('price 35.5', {}, {'unit_price': Decimal('35.5')}),
                ('price float', {}, {'unit_price': 35.5}),
                ('rate 0.0600', {}, {'tax_rate': Decimal('0.0600')}),
                ('rate float', {}, {'tax_rate': 0.06}),
                ('empty description', {}, {'description': ''}),
                ('extension order', {'extension': {'service_rating': 5,
                            'vehicle_model': "比亚迪 汉"}}, {}),
                ('extension empty key', {'extension': {
                            'vehicle_model': "比亚迪 汉", 'service_rating': 5,
                            'comment': '', 'use_time': None}}, {}),
                ('extra keys', {'number': 'SO1', 'state': 'confirmed'},
                    {'id': 9}),
                ]:
            with self.subTest(name=name):
                self.assertEqual(
                    orders.fingerprint(*variant(order, lines)), expected)
        # a missing key is an empty one
        order = dict(ORDER)
        order.pop('branch')
        self.assertEqual(orders.fingerprint(order, LINES),
            orders.fingerprint(dict(ORDER, branch=None), LINES))
        # 100 is not written 1E+2
        self.assertEqual(
            orders.fingerprint(*variant(lines={'unit_price': Decimal('1E+2')})),
            orders.fingerprint(*variant(lines={'unit_price': 100})))

    def test_changed_content(self):
        "Any change of the content changes the fingerprint"
        expected = orders.fingerprint(ORDER, LINES)
        for name, order, lines in [
                ('type', {'type': 2}, {}),
                ('direction', {'direction': 'payable'}, {}),
                ('counterparty', {'counterparty': 8}, {}),
                ('branch', {'branch': None}, {}),
                ('currency', {'currency': 1}, {}),
                ('date', {'date': dt.date(2026, 12, 3)}, {}),
                ('description', {'description': "洗车 "}, {}),
                ('extension value', {'extension': {
                            'vehicle_model': "比亚迪 汉",
                            'service_rating': 4}}, {}),
                ('extension key', {'extension': {
                            'vehicle_model': "比亚迪 汉"}}, {}),
                ('product', {}, {'product': 12}),
                ('line description', {}, {'description': "外观"}),
                ('quantity', {}, {'quantity': Decimal('3.0001')}),
                ('negative', {}, {'quantity': -3}),
                ('price', {}, {'unit_price': Decimal('35.51')}),
                ('rate', {}, {'tax_rate': Decimal('0.13')}),
                ]:
            with self.subTest(name=name):
                self.assertNotEqual(
                    orders.fingerprint(*variant(order, lines)), expected)

    def test_lines(self):
        "The lines count, in their order"
        second = dict(LINES[0], product=12)
        one = orders.fingerprint(ORDER, LINES)
        two = orders.fingerprint(ORDER, LINES + [second])
        swapped = orders.fingerprint(ORDER, [second] + LINES)
        self.assertEqual(len({one, two, swapped}), 3)
        self.assertNotEqual(orders.fingerprint(ORDER, []), one)
        self.assertEqual(orders.fingerprint(ORDER, LINES + [second]), two)

    def test_canonical_is_json(self):
        "The canonical form is compact sorted JSON, Chinese kept"
        text = orders.canonical(ORDER, LINES)
        self.assertIn('"比亚迪 汉"', text)
        self.assertIn('"quantity":"3"', text)
        self.assertIn('"date":"2026-12-02"', text)
        self.assertNotIn(' :', text)


if __name__ == '__main__':
    unittest.main()

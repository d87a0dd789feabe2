# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import unittest
from decimal import Decimal

from dualrec import vehicle as v

D = dt.date


class VinTestCase(unittest.TestCase):

    def test_check_digit(self):
        "The check digit of known VINs (position 9)"
        for vin in [
                '1M8GDM9AXKP042788',     # the worked example: X
                '11111111111111111',     # 89 = 8 × 11 + 1
                ]:
            with self.subTest(vin=vin):
                self.assertEqual(v.vin_check_digit(vin), vin[8])
                self.assertEqual(v.check_vin(vin), vin)

    def test_normalized(self):
        "Lower case, full-width symbols and spaces are accepted"
        self.assertEqual(v.check_vin(' 1m8gdm9axkp042788 '),
            '1M8GDM9AXKP042788')
        self.assertEqual(v.check_vin('１Ｍ８ＧＤＭ９ＡＸＫＰ０４２７８８'),
            '1M8GDM9AXKP042788')

    def test_refused(self):
        "A mistyped symbol, a short VIN or I, O, Q are refused with a code"
        for value, code in [
                ('1M8GDM9AXKP042789', 'bad_vin_check'),
                ('1M8GDM9A1KP042788', 'bad_vin_check'),
                ('1M8GDN9AXKP042788', 'bad_vin_check'),
                ('1M8GDM9AXKP04278', 'bad_vin'),
                ('1M8GDM9AXKP0427888', 'bad_vin'),
                ('1M8GDM9AXKO042788', 'bad_vin'),
                ('1M8GDM9AXKQ042788', 'bad_vin'),
                ('', 'bad_vin'),
                (None, 'bad_vin'),
                ]:
            with self.subTest(value=value):
                with self.assertRaises(v.VehicleError) as context:
                    v.check_vin(value)
                self.assertEqual(context.exception.code, code)

    def test_every_single_error_caught(self):
        "Any one changed symbol of a VIN breaks its check digit"
        vin = '1M8GDM9AXKP042788'
        caught = 0
        for position in range(17):
            if position == 8:
                continue
            for symbol in '0123456789ABCDEFGHJKLMNPRSTUVWXYZ':
                if symbol == vin[position]:
                    continue
                typo = vin[:position] + symbol + vin[position + 1:]
                if v.vin_check_digit(typo) != typo[8]:
                    caught += 1
                elif v._VALUES[symbol] != v._VALUES[vin[position]]:
                    self.fail(f"{typo} passes")
        self.assertGreater(caught, 400)


class PlateTestCase(unittest.TestCase):

    def test_plates(self):
        for value, plate in [('粤B12345', '粤B12345'), ('粤 b·D12345',
                    '粤BD12345'), ('京AF12345', '京AF12345')]:
            with self.subTest(value=value):
                self.assertEqual(v.check_plate(value), plate)
        self.assertTrue(v.new_energy('粤BD12345'))
        self.assertFalse(v.new_energy('粤B12345'))
        for value in ['B12345', '粤B1234', '粤B1234567', '']:
            with self.subTest(value=value):
                with self.assertRaises(v.VehicleError) as context:
                    v.check_plate(value)
                self.assertEqual(context.exception.code, 'bad_plate')


class DueTestCase(unittest.TestCase):

    def test_next_due(self):
        "The next yearly due date on or after a day"
        for due, day, expected in [
                (D(2026, 3, 15), D(2026, 1, 1), D(2026, 3, 15)),
                (D(2026, 3, 15), D(2026, 3, 15), D(2026, 3, 15)),
                (D(2026, 3, 15), D(2026, 3, 16), D(2027, 3, 15)),
                (D(2022, 3, 15), D(2026, 12, 4), D(2027, 3, 15)),
                (D(2024, 2, 29), D(2025, 1, 1), D(2025, 2, 28)),
                (D(2024, 2, 29), D(2027, 12, 1), D(2028, 2, 29)),
                (D(2027, 6, 1), D(2026, 12, 4), D(2027, 6, 1)),
                (None, D(2026, 12, 4), None),
                ]:
            with self.subTest(due=due, day=day):
                self.assertEqual(v.next_due(due, day), expected)

    def test_window(self):
        "90 to 30 days before the due date, both ends included"
        due = D(2027, 3, 1)
        self.assertEqual(v.window_of(due, 90, 30),
            (D(2026, 12, 1), D(2027, 1, 30)))
        for day, inside in [(D(2026, 11, 30), False), (D(2026, 12, 1), True),
                (D(2027, 1, 30), True), (D(2027, 1, 31), False)]:
            with self.subTest(day=day):
                self.assertEqual(v.in_window(due, day, 90, 30), inside)
        self.assertFalse(v.in_window(None, D(2027, 1, 1), 90, 30))

    def test_age(self):
        self.assertEqual(v.vehicle_age(D(2020, 6, 1), D(2026, 5, 31)), 5)
        self.assertEqual(v.vehicle_age(D(2020, 6, 1), D(2026, 6, 1)), 6)
        self.assertIsNone(v.vehicle_age(None, D(2026, 6, 1)))


class RuleTestCase(unittest.TestCase):
    day = D(2026, 12, 4)
    rule = {'due_kind': 'commercial', 'start_days': 90, 'end_days': 30,
        'regions': ['4403', '11'], 'usages': ['private'], 'min_age': None,
        'max_age': 8, 'new_energy': None}

    def vehicle(self, **values):
        base = {'consent': True, 'region': '440305', 'usage': 'private',
            'registered': D(2021, 5, 1), 'plate': '粤B12345',
            'commercial': D(2026, 2, 20), 'compulsory': D(2026, 2, 20)}
        base.update(values)
        return base

    def test_matches(self):
        "A vehicle in the region and the window is taken for its due date"
        self.assertEqual(v.rule_matches(self.rule, self.vehicle(), self.day),
            D(2027, 2, 20))
        self.assertEqual(v.rule_matches(self.rule,
                self.vehicle(region='110105'), self.day), D(2027, 2, 20))

    def test_refusals(self):
        "No consent, another region, usage, age or window: no push"
        for name, values in [
                ('consent', {'consent': False}),
                ('region', {'region': '440105'}),
                ('usage', {'usage': 'commercial'}),
                ('age', {'registered': D(2017, 1, 1)}),
                ('window early', {'commercial': D(2026, 3, 20)}),
                ('window late', {'commercial': D(2026, 12, 20)}),
                ('no due date', {'commercial': None}),
                ]:
            with self.subTest(name=name):
                self.assertIsNone(v.rule_matches(self.rule,
                        self.vehicle(**values), self.day))

    def test_new_energy_filter(self):
        rule = {**self.rule, 'new_energy': True}
        self.assertIsNone(v.rule_matches(rule, self.vehicle(), self.day))
        self.assertIsNotNone(v.rule_matches(rule,
                self.vehicle(plate='粤BD12345'), self.day))

    def test_division_prefixes(self):
        "Province, city and county codes cover their sub-divisions only"
        for region, prefixes, expected in [
                ('441002', ['440000'], True), ('441002', ['441000'], True),
                ('441102', ['441000'], False), ('441002', ['4410'], True),
                ('441002', ['441002'], True), ('441003', ['441002'], False),
                ('', ['44'], False), (None, [], True)]:
            with self.subTest(region=region, prefixes=prefixes):
                self.assertEqual(v.region_matches(region, prefixes), expected)

    def test_all_regions(self):
        rule = {**self.rule, 'regions': []}
        self.assertIsNotNone(v.rule_matches(rule,
                self.vehicle(region='650102'), self.day))


class FunnelTestCase(unittest.TestCase):

    def test_honest_rate(self):
        "100 pushes with 10 wins convert 10 %, not 100 %"
        funnel = v.Funnel(['won'] * 10 + ['lost'] * 30 + ['expired'] * 40
            + ['pushed'] * 20)
        self.assertEqual(funnel.total, 100)
        self.assertEqual(funnel.rates()['won'], Decimal('10.00'))

    def test_unconverted_counted(self):
        "The imported unconverted proposals are in the denominator"
        funnel = v.Funnel(['won'] * 10 + ['quoted'] * 10 + ['received'] * 5,
            unconverted=75)
        self.assertEqual(funnel.rates(), {'received': Decimal('25.00'),
                'quoted': Decimal('20.00'), 'won': Decimal('10.00')})

    def test_empty(self):
        self.assertEqual(v.Funnel().rates(),
            {'received': None, 'quoted': None, 'won': None})
        self.assertEqual(v.rate(1, 3), Decimal('33.33'))
        self.assertEqual(v.rate(2, 3), Decimal('66.67'))


if __name__ == '__main__':
    unittest.main()

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import unittest
from decimal import Decimal

from dualrec import money

D = Decimal


class SplitInclusiveTestCase(unittest.TestCase):
    "Test the VAT split of a line priced VAT included"

    def test_split(self):
        "The split rounds half-up to the fen, line by line"
        for quantity, price, rate, expected in [
                # 106.00 / 1.06 = 100.00 exactly
                (1, '106.00', '0.06', ('100.00', '6.00', '106.00')),
                # 3 × 35.50 = 106.50; / 1.06 = 100.4716…
                (3, '35.50', '0.06', ('100.47', '6.03', '106.50')),
                # total rounding at 0.005: 0.005 → 0.01, 0.0049 → 0.00
                ('0.5', '0.01', '0', ('0.01', '0.00', '0.01')),
                ('0.49', '0.01', '0', ('0.00', '0.00', '0.00')),
                ('1', '2.345', '0', ('2.35', '0.00', '2.35')),
                ('1', '2.3449', '0', ('2.34', '0.00', '2.34')),
                # untaxed rounding at 0.005: 1.06 × 0.xx5
                ('1', '0.0053', '0.06', ('0.01', '0.00', '0.01')),
                # 11.29435 → total 11.29; 11.29 / 1.13 = 9.99115… → 9.99
                ('1', '11.29435', '0.13', ('9.99', '1.30', '11.29')),
                # 10.10 / 1.01 = 10.00 exactly
                ('1', '10.10', '0.01', ('10.00', '0.10', '10.10')),
                # 1.03515 → total 1.04; 1.04 / 1.03 = 1.0097… → 1.01
                ('1', '1.03515', '0.03', ('1.01', '0.03', '1.04')),
                # 0.11445 → total 0.11; 0.11 / 1.09 = 0.1009… → 0.10
                ('1', '0.11445', '0.09', ('0.10', '0.01', '0.11')),
                # every rate on 100 yuan
                (1, '100', '0.13', ('88.50', '11.50', '100.00')),
                (1, '100', '0.09', ('91.74', '8.26', '100.00')),
                (1, '100', '0.06', ('94.34', '5.66', '100.00')),
                (1, '100', '0.05', ('95.24', '4.76', '100.00')),
                (1, '100', '0.03', ('97.09', '2.91', '100.00')),
                (1, '100', '0.01', ('99.01', '0.99', '100.00')),
                # zero-rated: no tax at all
                (7, '12.34', '0', ('86.38', '0.00', '86.38')),
                (7, '12.34', '0.00', ('86.38', '0.00', '86.38')),
                # large quantities
                (1000000, '35.50', '0.06',
                    ('33490566.04', '2009433.96', '35500000.00')),
                ('123456.7891', '0.0123', '0.06',
                    ('1432.57', '85.95', '1518.52')),
                # zero quantity
                (0, '35.50', '0.06', ('0.00', '0.00', '0.00')),
                ]:
            with self.subTest(quantity=quantity, price=price, rate=rate):
                result = money.split_inclusive(quantity, price, rate)
                self.assertEqual(result, tuple(D(x) for x in expected))
                self.assertTrue(all(isinstance(x, Decimal) for x in result))
                untaxed, tax, total = result
                self.assertEqual(untaxed + tax, total)
                self.assertTrue(all(x == x.quantize(D('0.01'))
                        for x in result))

    def test_rounding_at_half_fen_exact(self):
        "An exact half fen rounds away from zero, on total and on untaxed"
        # total: 0.005 exactly
        self.assertEqual(money.split_inclusive('0.5', '0.01', '0')[2],
            D('0.01'))
        self.assertEqual(money.split_inclusive('-0.5', '0.01', '0')[2],
            D('-0.01'))
        # untaxed: total / (1 + rate) never lands on a half fen for the VAT
        # rates (no fen total is (1 + rate) × an odd half fen), so the half
        # fen itself is proven through round_fen
        self.assertEqual(money.split_inclusive(1, '0.21', '0.05'),
            (D('0.20'), D('0.01'), D('0.21')))
        self.assertEqual(money.round_fen(D('0.005')), D('0.01'))
        self.assertEqual(money.round_fen(D('-0.005')), D('-0.01'))
        self.assertEqual(money.round_fen(D('0.0049999')), D('0.00'))
        self.assertEqual(money.round_fen(D('2.675')), D('2.68'))
        # 2.675 as a float is 2.67499…: to_decimal takes its repr
        self.assertEqual(money.split_inclusive(1, 2.675, 0)[2], D('2.68'))

    def test_negative_lines_are_exact_negations(self):
        "A discount line is the exact negation of the line it discounts"
        for quantity, price, rate in [
                (3, '35.50', '0.06'), ('0.5', '0.01', '0'),
                (1, '11.29435', '0.13'), (1, '100', '0.09'),
                (7, '12.345', '0.03'), ('2.5', '0.333', '0.01'),
                (1000000, '35.50', '0.06'), (1, '0.0053', '0.06'),
                (1, '2.345', '0.05'),
                ]:
            with self.subTest(quantity=quantity, price=price, rate=rate):
                positive = money.split_inclusive(quantity, price, rate)
                by_quantity = money.split_inclusive(
                    -D(quantity), price, rate)
                by_price = money.split_inclusive(quantity, -D(price), rate)
                self.assertEqual(by_quantity, tuple(-x for x in positive))
                self.assertEqual(by_price, tuple(-x for x in positive))
                self.assertEqual(money.totals([positive, by_quantity]),
                    (D('0.00'), D('0.00'), D('0.00')))

    def test_accepted_inputs(self):
        "Quantities, prices and rates as int, str, float or Decimal"
        expected = (D('100.47'), D('6.03'), D('106.50'))
        for args in [(3, '35.50', '0.06'), ('3', 35.5, 0.06),
                (D(3), D('35.5'), D('0.06')), ('3.0000', '35.5000', '0.0600'),
                (3, '¥35.50', '0.06')]:
            with self.subTest(args=args):
                self.assertEqual(money.split_inclusive(*args), expected)

    def test_refusals(self):
        "A rate that is not a VAT rate or a non-number is refused"
        for args, code in [
                ((1, '100', '0.07'), 'bad_rate'),
                ((1, '100', '6'), 'bad_rate'),      # a percentage
                ((1, '100', '-0.06'), 'bad_rate'),
                ((1, '100', None), 'bad_rate'),
                ((1, '100', 'six'), 'bad_rate'),
                ((None, '100', '0.06'), 'bad_quantity'),
                (('abc', '100', '0.06'), 'bad_quantity'),
                ((True, '100', '0.06'), 'bad_quantity'),
                ((1, 'NaN', '0.06'), 'bad_amount'),
                ((1, 'Infinity', '0.06'), 'bad_amount'),
                ((1, '', '0.06'), 'bad_amount'),
                ((1, float('nan'), '0.06'), 'bad_amount'),
                ]:
            with self.subTest(args=args):
                with self.assertRaises(money.MoneyError) as cm:
                    money.split_inclusive(*args)
                self.assertEqual(cm.exception.code, code)
                self.assertIsInstance(cm.exception, ValueError)


class TotalsTestCase(unittest.TestCase):
    "Test the sums of lines"

    def test_many_lines_add_up(self):
        "The totals of many lines add up exactly, untaxed + tax == total"
        rates = ['0.13', '0.09', '0.06', '0.05', '0.03', '0.01', '0']
        lines = []
        for i in range(1, 2001):
            quantity = D(i % 17) - 3       # some negative, some zero
            price = D(i * 7919 % 100000) / 1000
            lines.append(money.split_inclusive(
                    quantity, price, rates[i % len(rates)]))
        untaxed, tax, total = money.totals(lines)
        self.assertEqual(untaxed + tax, total)
        self.assertEqual(total, sum(l[2] for l in lines))
        self.assertEqual(untaxed, sum(l[0] for l in lines))
        self.assertEqual(tax, sum(l[1] for l in lines))
        # the total is the sum of the rounded line totals, not the rounded
        # sum of the exact products
        self.assertEqual(total, sum(money.round_fen(
                    (D(i % 17) - 3) * (D(i * 7919 % 100000) / 1000))
                for i in range(1, 2001)))

    def test_empty(self):
        "No lines make zero totals, to the fen"
        result = money.totals([])
        self.assertEqual(result, (D('0.00'),) * 3)
        self.assertEqual([str(x) for x in result], ['0.00'] * 3)

    def test_generator(self):
        "The lines may be any iterable"
        self.assertEqual(money.totals(
                money.split_inclusive(q, '10', '0.06') for q in [1, 2, -1]),
            (D('18.87'), D('1.13'), D('20.00')))


class ParseRateTestCase(unittest.TestCase):
    "Test the reading of VAT rates"

    def test_parse(self):
        "Percentages and fractions in any spelling give the fraction"
        for value, expected in [
                ('6%', '0.06'), ('6 %', '0.06'), ('6％', '0.06'),
                (' 13% ', '0.13'), ('6', '0.06'), (6, '0.06'),
                ('0.06', '0.06'), (0.06, '0.06'), (D('0.06'), '0.06'),
                ('9', '0.09'), ('5%', '0.05'), ('3', '0.03'),
                ('1', '0.01'), (1, '0.01'), ('1%', '0.01'),
                ('0.01', '0.01'), ('13.00', '0.13'), ('0.130', '0.13'),
                ('0', '0'), (0, '0'), ('0%', '0'), ('0.00', '0'),
                (0.13, '0.13'),
                ]:
            with self.subTest(value=value):
                rate = money.parse_rate(value)
                self.assertEqual(rate, D(expected))
                self.assertEqual(str(rate), expected)

    def test_refusals(self):
        "Anything that is not a VAT rate is refused"
        for value in ['7%', '7', '0.07', '17%', '16', '-6%', '-0.06',
                '100%', 'six', '', None, True, 'NaN']:
            with self.subTest(value=value):
                with self.assertRaises(money.MoneyError) as cm:
                    money.parse_rate(value)
                self.assertEqual(cm.exception.code, 'bad_rate')


class ToDecimalTestCase(unittest.TestCase):
    "Test the reading of numbers"

    def test_to_decimal(self):
        "Numbers in the spellings of spreadsheets and people"
        for value, expected in [
                (3, '3'), ('3', '3'), (' 3.50 ', '3.50'),
                ('1,234.56', '1234.56'), ('1，234.56', '1234.56'),
                ('¥1,000', '1000'), ('￥ 12.5', '12.5'), ('-5', '-5'),
                (35.5, '35.5'), (0.1, '0.1'), (2.675, '2.675'),
                (D('1.10'), '1.10'), ('1e3', '1E+3'),
                ]:
            with self.subTest(value=value):
                result = money.to_decimal(value)
                self.assertIsInstance(result, Decimal)
                self.assertEqual(result, D(expected))

    def test_refusals(self):
        "Non-numbers are refused with the code of what was read"
        for value in [None, True, False, '', 'abc', 'NaN', 'inf',
                float('inf'), float('nan'), '1.2.3', [], '¥']:
            for what in ['amount', 'quantity']:
                with self.subTest(value=value, what=what):
                    with self.assertRaises(money.MoneyError) as cm:
                        money.to_decimal(value, what)
                    self.assertEqual(cm.exception.code, f'bad_{what}')


if __name__ == '__main__':
    unittest.main()

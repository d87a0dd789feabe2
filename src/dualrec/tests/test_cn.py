# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import unittest
from decimal import Decimal

from dualrec.cn import amount_in_words

# amount, words: the examples of 支付结算办法 and the zero rules' edge cases
CASES = [
    ('12345.67', '壹万贰仟叁佰肆拾伍元陆角柒分'),
    ('0', '零元整'),
    ('0.00', '零元整'),
    ('1', '壹元整'),
    ('10', '壹拾元整'),
    ('15', '壹拾伍元整'),
    ('100', '壹佰元整'),
    ('101', '壹佰零壹元整'),
    ('110', '壹佰壹拾元整'),
    ('1001', '壹仟零壹元整'),
    ('1010', '壹仟零壹拾元整'),
    ('1100.50', '壹仟壹佰元伍角'),
    ('1680.32', '壹仟陆佰捌拾元叁角贰分'),
    ('10000', '壹万元整'),
    ('10001', '壹万零壹元整'),
    ('10100', '壹万零壹佰元整'),
    ('16409.02', '壹万陆仟肆佰零玖元零贰分'),
    ('100000', '壹拾万元整'),
    ('1000000', '壹佰万元整'),
    ('1004000', '壹佰万肆仟元整'),  # 万位 zero: no 零, as for ¥107,000.53
    ('1040000', '壹佰零肆万元整'),
    ('325000.80', '叁拾贰万伍仟元捌角'),
    ('100010000', '壹亿零壹万元整'),
    ('1000000001', '壹拾亿零壹元整'),
    ('107000.53', '壹拾万柒仟元伍角叁分'),
    ('6007.14', '陆仟零柒元壹角肆分'),
    ('0.05', '伍分'),
    ('0.50', '伍角'),
    ('0.56', '伍角陆分'),
    ('1.05', '壹元零伍分'),
    ('20.10', '贰拾元壹角'),
    ('-106.00', '负壹佰零陆元整'),
    ('0.005', '壹分'),       # rounded half-up to the fen
    ('0.004', '零元整'),
    ('99999999.99', '玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分'),
    ('123456789012.34',
        '壹仟贰佰叁拾肆亿伍仟陆佰柒拾捌万玖仟零壹拾贰元叁角肆分'),
    ]


class AmountInWordsTestCase(unittest.TestCase):
    "Test amounts in Chinese capital numerals"

    def test_cases(self):
        for amount, words in CASES:
            with self.subTest(amount=amount):
                self.assertEqual(amount_in_words(Decimal(amount)), words)

    def test_types(self):
        "An int and a string are accepted like a Decimal"
        self.assertEqual(amount_in_words(106), '壹佰零陆元整')
        self.assertEqual(amount_in_words('106.5'), '壹佰零陆元伍角')

    def test_too_large(self):
        with self.assertRaises(ValueError):
            amount_in_words(Decimal(10) ** 16)


if __name__ == '__main__':
    unittest.main()

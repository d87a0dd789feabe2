# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import unittest

from dualrec.fapiao import (
    BUYER_NAME_LIMIT, REMARK_LIMIT, FapiaoError, check_gbk, check_number,
    check_tax_code, check_tax_id)

# kind, number, code, expected (number, code) or the error code
NUMBERS = [
    ('digital_special', '24442000000012345678', None,
        ('24442000000012345678', None)),
    ('digital_normal', ' 25112000000000000001 ', None,
        ('25112000000000000001', None)),
    ('digital_normal', '25822000000000000001', None,
        ('25822000000000000001', None)),
    ('digital_normal', '25992000000000000001', None, 'fapiao_number_region'),
    ('digital_normal', '25002000000000000001', None, 'fapiao_number_region'),
    ('digital_normal', '2544200000000000001', None, 'fapiao_number_length'),
    ('digital_normal', '254420000000000000012', None, 'fapiao_number_length'),
    ('digital_normal', '2544200000000000000A', None, 'fapiao_not_digits'),
    ('digital_normal', '２５44200000000000000', None, 'fapiao_not_digits'),
    ('digital_special', '24442000000012345678', '1100000000',
        'fapiao_code_unexpected'),
    ('paper_special', '12345678', '1100233130', ('12345678', '1100233130')),
    ('paper_normal', '12345678', '011002300111',
        ('12345678', '011002300111')),
    ('paper_normal', '1234567', '011002300111', 'fapiao_number_length'),
    ('paper_normal', '12345678', '01100230011', 'fapiao_code_length'),
    ('paper_normal', '12345678', None, 'fapiao_not_digits'),
    ('foo', '12345678', None, 'fapiao_kind'),
    ]

TAX_IDS = [
    ('91110000600037341L', '91110000600037341L'),
    ('9111 0000 6000 3734 1L', '91110000600037341L'),
    ('91110000600037341M', None),
    ('', None),
    ('123', None),
    ]

# text, limit, error code or None
GBK = [
    ('北京某某保险股份有限公司', BUYER_NAME_LIMIT, None),
    ('保' * 50, BUYER_NAME_LIMIT, None),
    ('保' * 51, BUYER_NAME_LIMIT, 'fapiao_gbk_length'),
    ('a' * 100, BUYER_NAME_LIMIT, None),
    ('a' * 101, BUYER_NAME_LIMIT, 'fapiao_gbk_length'),
    ('注' * 115, REMARK_LIMIT, None),
    ('注' * 115 + 'x', REMARK_LIMIT, 'fapiao_gbk_length'),
    ('洗车 🚗', REMARK_LIMIT, 'fapiao_gbk_char'),
    (None, REMARK_LIMIT, None),
    ]


class FapiaoTestCase(unittest.TestCase):

    def test_check_number(self):
        for kind, number, code, expected in NUMBERS:
            with self.subTest(kind=kind, number=number, code=code):
                if isinstance(expected, tuple):
                    self.assertEqual(
                        check_number(kind, number, code), expected)
                else:
                    with self.assertRaises(FapiaoError) as cm:
                        check_number(kind, number, code)
                    self.assertEqual(cm.exception.code, expected)
                    self.assertTrue(str(cm.exception))

    def test_check_tax_id(self):
        for value, expected in TAX_IDS:
            with self.subTest(value=value):
                if expected:
                    self.assertEqual(check_tax_id(value), expected)
                else:
                    with self.assertRaises(FapiaoError) as cm:
                        check_tax_id(value)
                    self.assertEqual(cm.exception.code, 'fapiao_tax_id')

    def test_check_gbk(self):
        for text, limit, expected in GBK:
            with self.subTest(text=text, limit=limit):
                if expected is None:
                    self.assertEqual(check_gbk(text, limit, 'name'),
                        text or '')
                else:
                    with self.assertRaises(FapiaoError) as cm:
                        check_gbk(text, limit, 'buyer name')
                    self.assertEqual(cm.exception.code, expected)
                    self.assertIn('buyer name', str(cm.exception))

    def test_check_tax_code(self):
        self.assertEqual(
            check_tax_code('3040201990000000000'), '3040201990000000000')
        for value in ['304020199', '30402019900000000001', 'abc']:
            with self.subTest(value=value), self.assertRaises(FapiaoError):
                check_tax_code(value)

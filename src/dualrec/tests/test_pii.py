# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import base64
import datetime as dt
import hashlib
import hmac
import unittest

from dualrec.pii import (
    ID_TYPES, PIIError, age_on, birth_date_from_id, blind_index,
    decrypt_value, derive_keys, encrypt_value, load_master_key, mask_id_number,
    mask_name, mask_phone, normalize_id_number, validate_id_number,
    validate_phone)

TODAY = dt.date(2024, 6, 15)
MASTER = bytes(range(32))
B64_ALPHABET = (
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')


def make_id(prefix, birth, sequence='001'):
    """Build an 18-character number with a valid GB 11643 check character.

    The check is computed from the ISO 7064 MOD 11-2 definition (weights
    2^(17-i) mod 11) rather than from the module's tables, so the test does
    not just repeat the implementation.
    """
    body = prefix + birth + sequence
    assert len(body) == 17 and body.isdigit(), body
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body))
    check = (12 - total % 11) % 11
    return body + ('X' if check == 10 else str(check))


def wrong_check(number):
    "Return ``number`` with another, hence wrong, check character."
    return number[:17] + ('0' if number[17] != '0' else '1')


def to_full_width(text):
    return ''.join(
        chr(ord(c) + 0xFEE0) if '!' <= c <= '~' else c for c in text)


def hkdf_sha256(master, info, length=32):
    "RFC 5869 with an empty salt, written with the standard library only."
    prk = hmac.new(b'\x00' * 32, master, hashlib.sha256).digest()
    output, block, counter = b'', b'', 1
    while len(output) < length:
        block = hmac.new(
            prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


class PIIErrorMixin:

    def assertPIIError(self, code, func, *args, **kwargs):
        with self.assertRaises(PIIError) as cm:
            func(*args, **kwargs)
        self.assertEqual(cm.exception.code, code)
        return cm.exception


class IdTypesTestCase(unittest.TestCase):
    "Test the list of identity document types"

    def test_codes(self):
        "The types are listed in the expected order with unique codes"
        codes = [code for code, _ in ID_TYPES]
        self.assertEqual(codes, [
                'resident_id', 'passport', 'hk_macau_permit',
                'taiwan_permit', 'hk_macau_residence', 'taiwan_residence',
                'foreigner_residence', 'military', 'other'])
        self.assertEqual(dict(ID_TYPES)['resident_id'],
            "Resident Identity Card")
        for code, label in ID_TYPES:
            with self.subTest(code=code):
                self.assertTrue(label)
                # Every listed type is known to the validator.
                try:
                    validate_id_number(code, 'X', today=TODAY)
                except PIIError as exception:
                    self.assertNotEqual(exception.code, 'id_type_unknown')


class NormalizeTestCase(unittest.TestCase):
    "Test the normalization of identity numbers"

    def test_normalize(self):
        "Spaces go, full-width becomes ASCII, letters are upper-cased"
        cases = [
            ('11010519491231002x', '11010519491231002X'),
            (' 110105 19491231 002X ', '11010519491231002X'),
            ('１１０１０５１９４９１２３１００２Ｘ', '11010519491231002X'),
            ('１１０１０５\u3000１９４９１２３１\t００２ｘ',
                '11010519491231002X'),
            ('ｅ１２３４５６７８', 'E12345678'),
            ('南字第１２３号', '南字第123号'),
            ('', ''),
            (None, ''),
            ]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(
                    normalize_id_number('resident_id', value), expected)

    def test_full_width_helper(self):
        "The test helper produces what a Chinese IME types"
        self.assertEqual(to_full_width('H12'), 'Ｈ１２')


class ResidentIdTestCase(PIIErrorMixin, unittest.TestCase):
    "Test resident identity card numbers"

    def test_valid(self):
        "Valid numbers are returned normalized"
        cases = [
            # the example of GB 11643-1999 itself
            ('11010519491231002X', '11010519491231002X'),
            ('11010519491231002x', '11010519491231002X'),
            (' 110105 19491231 002X', '11010519491231002X'),
            (to_full_width('11010519491231002X'), '11010519491231002X'),
            (make_id('440305', '19900101', '123'), None),
            (make_id('310101', '20000229', '002'), None),
            (make_id('650102', '19000101', '999'), None),
            (make_id('540102', '20240615', '001'), None),  # born today
            (make_id('150102', '19761010', '456'), None),
            (make_id('710000', '19500505', '010'), None),
            (make_id('910000', '19800808', '020'), None),
            ]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(
                    validate_id_number('resident_id', value, today=TODAY),
                    expected or value)

    def test_generated_sequences(self):
        "Every sequence gets a valid check character, X included"
        numbers = [make_id('320102', '19850315', f'{s:03d}')
            for s in range(200)]
        self.assertIn('X', {n[-1] for n in numbers})
        for number in numbers:
            with self.subTest(number=number):
                self.assertEqual(
                    validate_id_number('resident_id', number, today=TODAY),
                    number)
                self.assertPIIError('id_number_checksum',
                    validate_id_number, 'resident_id', wrong_check(number),
                    today=TODAY)

    def test_province_codes(self):
        "Only province-level codes are accepted as the first 2 digits"
        valid = (
            list(range(11, 16)) + list(range(21, 24))
            + list(range(31, 38)) + list(range(41, 47))
            + list(range(50, 55)) + list(range(61, 66))
            + [71, 81, 82, 83, 91])
        for code in range(100):
            number = make_id(f'{code:02d}0101', '19800101')
            with self.subTest(code=code):
                if code in valid:
                    self.assertEqual(validate_id_number(
                            'resident_id', number, today=TODAY), number)
                else:
                    self.assertPIIError('id_number_region',
                        validate_id_number, 'resident_id', number,
                        today=TODAY)

    def test_errors(self):
        "Each kind of mistake has its own code"
        valid = make_id('110105', '19800101')
        cases = [
            ('', 'id_number_length'),
            ('110105491231002', 'id_number_length'),  # old 15 digits
            ('1101051949123100', 'id_number_length'),
            ('11010519491231002X1', 'id_number_length'),
            ('11010519491231002A', 'id_number_format'),
            ('X10105194912310021', 'id_number_format'),
            ('1101051949123100X2', 'id_number_format'),
            ('11010519491231002-', 'id_number_format'),
            # Arabic-Indic digits are digits for Python, not for the card
            ('11010519491231002X'.translate(
                    {ord(str(i)): 0x660 + i for i in range(10)}),
                'id_number_format'),
            (make_id('000000', '19800101'), 'id_number_region'),
            (make_id('160000', '19800101'), 'id_number_region'),
            (make_id('920000', '19800101'), 'id_number_region'),
            (make_id('110105', '19801301'), 'id_number_birth_date'),
            (make_id('110105', '19800132'), 'id_number_birth_date'),
            (make_id('110105', '19800000'), 'id_number_birth_date'),
            (make_id('110105', '20230229'), 'id_number_birth_date'),
            (make_id('110105', '18991231'), 'id_number_birth_date'),
            (make_id('110105', '20240616'), 'id_number_birth_date'),
            (make_id('110105', '20990101'), 'id_number_birth_date'),
            (wrong_check(valid), 'id_number_checksum'),
            ('110105194912310021', 'id_number_checksum'),
            (valid[:10] + valid[11] + valid[10] + valid[12:],
                'id_number_checksum'),  # swapped month digits
            ]
        for value, code in cases:
            with self.subTest(value=value):
                self.assertPIIError(code,
                    validate_id_number, 'resident_id', value, today=TODAY)

    def test_birth_date_bound_by_today(self):
        "A birth date is valid from the day it happens"
        number = make_id('110105', '20240616')
        self.assertPIIError('id_number_birth_date',
            validate_id_number, 'resident_id', number, today=TODAY)
        self.assertEqual(validate_id_number('resident_id', number,
                today=dt.date(2024, 6, 16)), number)

    def test_default_today(self):
        "Without today the system date is used"
        self.assertEqual(
            validate_id_number('resident_id', '11010519491231002X'),
            '11010519491231002X')
        future = dt.date.today() + dt.timedelta(days=1)
        self.assertPIIError('id_number_birth_date', validate_id_number,
            'resident_id', make_id('110105', future.strftime('%Y%m%d')))

    def test_error_details(self):
        "The error is a ValueError whose params never hold the raw number"
        number = wrong_check('11010519491231002X')
        exception = self.assertPIIError('id_number_checksum',
            validate_id_number, 'resident_id', number, today=TODAY)
        self.assertIsInstance(exception, ValueError)
        self.assertEqual(exception.params, {
                'id_type': 'resident_id',
                'number': '110***********0020',
                })
        self.assertNotIn(number, str(exception))
        self.assertTrue(exception.message)
        self.assertEqual(str(exception), exception.message)


class ResidencePermitTestCase(PIIErrorMixin, unittest.TestCase):
    "Test residence permits of Hong Kong, Macao and Taiwan residents"

    def test_valid(self):
        "Each type accepts its own prefixes"
        cases = [
            ('hk_macau_residence', make_id('810000', '19850615', '012')),
            ('hk_macau_residence', make_id('820000', '19910203', '345')),
            ('taiwan_residence', make_id('830000', '19700101', '678')),
            ('taiwan_residence',
                to_full_width(make_id('830000', '20000229', '001'))),
            ]
        for id_type, value in cases:
            with self.subTest(id_type=id_type, value=value):
                self.assertEqual(
                    validate_id_number(id_type, value, today=TODAY),
                    normalize_id_number(id_type, value))

    def test_errors(self):
        "Prefix, birth date, checksum and length are checked"
        cases = [
            ('hk_macau_residence', make_id('830000', '19850615'),
                'id_number_region'),
            ('hk_macau_residence', make_id('110105', '19850615'),
                'id_number_region'),
            ('hk_macau_residence', make_id('810001', '19850615'),
                'id_number_region'),
            ('taiwan_residence', make_id('810000', '19850615'),
                'id_number_region'),
            ('taiwan_residence', make_id('820000', '19850615'),
                'id_number_region'),
            ('hk_macau_residence', make_id('810000', '19850230'),
                'id_number_birth_date'),
            ('taiwan_residence', make_id('830000', '20250101'),
                'id_number_birth_date'),
            ('hk_macau_residence',
                wrong_check(make_id('810000', '19850615')),
                'id_number_checksum'),
            ('taiwan_residence',
                wrong_check(make_id('830000', '19850615')),
                'id_number_checksum'),
            ('taiwan_residence', '83000019850615001',
                'id_number_length'),
            ('hk_macau_residence', '81000019850615001A',
                'id_number_format'),
            ]
        for id_type, value, code in cases:
            with self.subTest(id_type=id_type, value=value):
                self.assertPIIError(code,
                    validate_id_number, id_type, value, today=TODAY)


class OtherDocumentsTestCase(PIIErrorMixin, unittest.TestCase):
    "Test the documents without a GB 11643 number"

    def test_valid(self):
        "Well-formed numbers are returned normalized"
        foreigner = make_id('911156', '19800101', '001')
        cases = [
            ('foreigner_residence', foreigner, foreigner),
            ('foreigner_residence', make_id('944392', '19920704', '123'),
                None),
            ('foreigner_residence', 'USA110080010101', None),
            ('foreigner_residence', 'can 3101 800101 01',
                'CAN310180010101'),
            ('hk_macau_permit', 'H12345678', None),
            ('hk_macau_permit', 'M1234567890', None),
            ('hk_macau_permit', 'h 1234 5678', 'H12345678'),
            ('hk_macau_permit', to_full_width('M12345678'), 'M12345678'),
            ('taiwan_permit', '12345678', None),
            ('taiwan_permit', '1234567890', None),
            ('taiwan_permit', 'a123456789', 'A123456789'),
            ('passport', 'E12345678', None),
            ('passport', 'G1234567', None),
            ('passport', 'K1234', None),
            ('passport', '12345', None),
            ('passport', 'AB1234567890CDEFG', None),
            ('passport', 'ｅｊ１２３４５６７', 'EJ1234567'),
            ('military', '南字第1234567号', None),
            ('military', 'ABC123', None),
            ('military', '军' * 20, None),
            ('military', 'jun 字 123456', 'JUN字123456'),
            ('other', 'X', None),
            ('other', 'ABC-123/456', None),
            ('other', 'A' * 40, None),
            ('other', 'n° 12', 'N°12'),
            ]
        for id_type, value, expected in cases:
            with self.subTest(id_type=id_type, value=value):
                self.assertEqual(
                    validate_id_number(id_type, value, today=TODAY),
                    expected or value)

    def test_errors(self):
        "Malformed numbers are refused with the documented code"
        resident = make_id('110105', '19800101')
        cases = [
            ('foreigner_residence', resident, 'id_number_format'),
            ('foreigner_residence', resident[:17] + 'A',
                'id_number_format'),
            ('foreigner_residence',
                wrong_check(make_id('911156', '19800101')),
                'id_number_checksum'),
            ('foreigner_residence', 'USA11008001010', 'id_number_length'),
            ('foreigner_residence', 'USA1100800101012', 'id_number_length'),
            ('foreigner_residence', '', 'id_number_length'),
            ('foreigner_residence', 'US1110080010101', 'id_number_format'),
            ('foreigner_residence', '123456789012345', 'id_number_format'),
            ('hk_macau_permit', 'H1234567', 'id_number_format'),
            ('hk_macau_permit', 'H123456789', 'id_number_format'),
            ('hk_macau_permit', 'H12345678901', 'id_number_format'),
            ('hk_macau_permit', 'A12345678', 'id_number_format'),
            ('hk_macau_permit', '12345678', 'id_number_format'),
            ('hk_macau_permit', '', 'id_number_format'),
            ('taiwan_permit', '1234567', 'id_number_format'),
            ('taiwan_permit', '123456789', 'id_number_format'),
            ('taiwan_permit', 'A1234567', 'id_number_format'),
            ('taiwan_permit', 'A12345678-', 'id_number_format'),
            ('passport', 'ABCDEFGH', 'id_number_format'),
            ('passport', 'E123', 'id_number_format'),
            ('passport', 'E' + '1' * 17, 'id_number_format'),
            ('passport', 'E1234-5678', 'id_number_format'),
            ('passport', '', 'id_number_format'),
            ('passport', 'E١٢٣٤٥٦٧٨', 'id_number_format'),
            ('hk_macau_permit', 'H١٢٣٤٥٦٧٨', 'id_number_format'),
            ('military', 'AB123', 'id_number_format'),
            ('military', '军' * 21, 'id_number_format'),
            ('military', '南字第123-456号', 'id_number_format'),
            ('other', '', 'id_number_format'),
            ('other', '   ', 'id_number_format'),
            ('other', 'A' * 41, 'id_number_format'),
            ('other', 'AB\x07C', 'id_number_format'),
            ]
        for id_type, value, code in cases:
            with self.subTest(id_type=id_type, value=value):
                self.assertPIIError(code,
                    validate_id_number, id_type, value, today=TODAY)

    def test_unknown_type(self):
        "An unknown document type is refused by every function"
        for func, args in [
                (validate_id_number, ('driving_licence', 'A12345')),
                (normalize_id_number, ('driving_licence', 'A12345')),
                (birth_date_from_id, ('driving_licence', 'A12345')),
                (validate_id_number, (None, 'A12345')),
                ]:
            with self.subTest(func=func.__name__, id_type=args[0]):
                exception = self.assertPIIError(
                    'id_type_unknown', func, *args)
                self.assertEqual(exception.params['id_type'], args[0])


class BirthDateTestCase(PIIErrorMixin, unittest.TestCase):
    "Test birth dates and ages"

    def test_birth_date_from_id(self):
        "Only numbers encoding a full birth date give one"
        cases = [
            ('resident_id', '11010519491231002X', dt.date(1949, 12, 31)),
            ('resident_id', '11010519491231002x', dt.date(1949, 12, 31)),
            ('resident_id', to_full_width(make_id('440305', '20000229')),
                dt.date(2000, 2, 29)),
            ('hk_macau_residence', make_id('810000', '19850615'),
                dt.date(1985, 6, 15)),
            ('taiwan_residence', make_id('830000', '19700101'),
                dt.date(1970, 1, 1)),
            ('resident_id', make_id('110105', '19801301'), None),
            ('resident_id', '110105491231002', None),
            ('resident_id', '', None),
            ('resident_id', None, None),
            ('foreigner_residence', make_id('911156', '19800101'), None),
            ('foreigner_residence', 'USA110080010101', None),
            ('passport', 'E12345678', None),
            ('other', '11010519491231002X', None),
            ]
        for id_type, number, expected in cases:
            with self.subTest(id_type=id_type, number=number):
                self.assertEqual(
                    birth_date_from_id(id_type, number), expected)

    def test_age_on(self):
        "Age grows on the birthday, on 1 March for 29 February births"
        cases = [
            (dt.date(1990, 6, 15), dt.date(2024, 6, 15), 34),
            (dt.date(1990, 6, 15), dt.date(2024, 6, 14), 33),
            (dt.date(1990, 6, 15), dt.date(2024, 6, 16), 34),
            (dt.date(1990, 6, 15), dt.date(1990, 6, 15), 0),
            (dt.date(1990, 12, 31), dt.date(1991, 1, 1), 0),
            (dt.date(1990, 12, 31), dt.date(1991, 12, 31), 1),
            (dt.date(1964, 6, 15), dt.date(2024, 6, 14), 59),
            (dt.date(1964, 6, 15), dt.date(2024, 6, 15), 60),
            (dt.date(2000, 2, 29), dt.date(2023, 2, 28), 22),
            (dt.date(2000, 2, 29), dt.date(2023, 3, 1), 23),
            (dt.date(2000, 2, 29), dt.date(2024, 2, 28), 23),
            (dt.date(2000, 2, 29), dt.date(2024, 2, 29), 24),
            (dt.date(2000, 2, 29), dt.date(2024, 3, 1), 24),
            (dt.date(2000, 3, 1), dt.date(2023, 2, 28), 22),
            (dt.date(2000, 3, 1), dt.date(2023, 3, 1), 23),
            ]
        for birth_date, day, expected in cases:
            with self.subTest(birth_date=birth_date, day=day):
                self.assertEqual(age_on(birth_date, day), expected)

    def test_age_before_birth(self):
        "A day before the birth is refused"
        self.assertPIIError('age_before_birth',
            age_on, dt.date(2000, 1, 2), dt.date(2000, 1, 1))


class PhoneTestCase(PIIErrorMixin, unittest.TestCase):
    "Test phone numbers"

    def test_valid(self):
        "Mobiles become 11 digits, landlines AREA-NUMBER[-EXT]"
        cases = [
            ('13812345678', '13812345678'),
            ('19912345678', '19912345678'),
            ('138 1234 5678', '13812345678'),
            ('138-1234-5678', '13812345678'),
            ('+86 138 1234 5678', '13812345678'),
            ('+8613812345678', '13812345678'),
            ('0086 13812345678', '13812345678'),
            ('86-138-1234-5678', '13812345678'),
            (' 13812345678 ', '13812345678'),
            ('１３８１２３４５６７８', '13812345678'),
            ('010-12345678', '010-12345678'),
            ('010 12345678', '010-12345678'),
            ('01012345678', '010-12345678'),
            ('021-1234567', '021-1234567'),
            ('02112345678', '021-12345678'),
            ('0755-12345678', '0755-12345678'),
            ('075512345678', '0755-12345678'),
            ('07551234567', '0755-1234567'),
            ('0755-1234567', '0755-1234567'),
            ('0755-12345678-801', '0755-12345678-801'),
            ('01012345678-8', '010-12345678-8'),
            ('０１０－１２３４５６７８', '010-12345678'),
            ]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(validate_phone(value), expected)

    def test_errors(self):
        "Anything else is refused with 'phone_format'"
        cases = [
            None, '', '   ', 'abc', '12345678901', '11812345678',
            '1381234567', '138123456789', '+1 13812345678',
            '+86 23812345678', '87 13812345678', '13812345678-123',
            '010-123456', '010-123456789', '0010-1234567', '0-12345678',
            '01012345-6', '0101234567890', '0755123456',
            '0755-12345678-1234567', '010-12345678 ext 5', '138x1234x5678',
            '١٣٨١٢٣٤٥٦٧٨',  # Arabic-Indic digits
            ]
        for value in cases:
            with self.subTest(value=value):
                exception = self.assertPIIError(
                    'phone_format', validate_phone, value)
                if value and len(value) > 8:
                    self.assertNotIn(value, str(exception.params))


class MaskTestCase(unittest.TestCase):
    "Test masking"

    def test_mask_id_number(self):
        "The middle is starred and the length kept"
        cases = [
            ('11010519491231002X', '110***********002X'),
            ('E12345678', 'E12**5678'),
            ('H1234567', 'H*****67'),
            ('12345678', '1*****78'),
            ('12345', '1**45'),
            ('1234', '1*34'),
            ('123', '***'),
            ('1', '*'),
            ('', ''),
            (None, ''),
            ]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(mask_id_number(value), expected)

    def test_mask_id_number_length(self):
        "Whatever the length, the length is kept and the middle hidden"
        for length in range(1, 41):
            value = ''.join(str(i % 10) for i in range(length))
            with self.subTest(length=length):
                masked = mask_id_number(value)
                self.assertEqual(len(masked), length)
                self.assertIn('*', masked)
                self.assertNotEqual(masked, value)

    def test_mask_phone(self):
        "Mobiles keep 3 + 4 digits, landlines the area and 4 digits"
        cases = [
            ('13812345678', '138****5678'),
            ('010-12345678', '010-****5678'),
            ('0755-1234567', '0755-***4567'),
            ('0755-12345678-801', '0755-****5678-801'),
            ('+8613812345678', '+86*******5678'),
            ('', ''),
            (None, ''),
            ]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(mask_phone(value), expected)
                self.assertEqual(len(mask_phone(value)), len(value or ''))

    def test_mask_name(self):
        "Chinese names keep 1 character, others 1 letter per word"
        cases = [
            ('张三', '张*'),
            ('欧阳娜娜', '欧***'),
            ('司马相如', '司***'),
            (' 李四 ', '李*'),
            ('张', '*'),
            ('阿卜杜拉·买买提', '阿***·***'),
            ('John Smith', 'J*** S****'),
            ('Mary-Jane Watson', 'M***-J*** W*****'),
            ("Conan O'Brien", 'C**** O\'B****'),
            ('J. Smith', 'J. S****'),
            ('Zoë', 'Z**'),
            ('', ''),
            (None, ''),
            ]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(mask_name(value), expected)


class BlindIndexTestCase(unittest.TestCase):
    "Test the blind index"

    def setUp(self):
        self.key = b'k' * 32

    def test_value(self):
        "The index is the HMAC-SHA256 of kind, NUL and value"
        index = blind_index(self.key, 'id_number', '11010519491231002X')
        self.assertRegex(index, r'\A[0-9a-f]{64}\Z')
        self.assertEqual(index, hmac.new(self.key,
                b'id_number\x0011010519491231002X',
                hashlib.sha256).hexdigest())

    def test_stable(self):
        "The same key, kind and value always give the same index"
        for value in ['13812345678', '11010519491231002X', '张三', '']:
            with self.subTest(value=value):
                self.assertEqual(
                    blind_index(self.key, 'phone', value),
                    blind_index(bytearray(self.key), 'phone', value))

    def test_distinct(self):
        "Kind, key and value each change the index"
        value = '13812345678'
        indexes = [
            blind_index(self.key, 'phone', value),
            blind_index(self.key, 'id_number', value),
            blind_index(b'K' * 32, 'phone', value),
            blind_index(self.key, 'phone', '13812345679'),
            blind_index(self.key * 2, 'phone', value),
            # the separator keeps the kind/value boundary
            blind_index(self.key, 'phon', 'e' + value),
            ]
        self.assertEqual(len(set(indexes)), len(indexes))

    def test_normalization_is_callers_job(self):
        "Two spellings only match once normalized"
        raw = '11010519491231002x'
        normalized = normalize_id_number('resident_id', raw)
        self.assertNotEqual(blind_index(self.key, 'id_number', raw),
            blind_index(self.key, 'id_number', '11010519491231002X'))
        self.assertEqual(blind_index(self.key, 'id_number', normalized),
            blind_index(self.key, 'id_number', '11010519491231002X'))

    def test_errors(self):
        "Short keys, bad kinds and non-strings are refused"
        with self.assertRaises(PIIError) as cm:
            blind_index(b'k' * 31, 'phone', '13812345678')
        self.assertEqual(cm.exception.code, 'key_too_short')
        for kind in ['', 'id\x00number']:
            with self.subTest(kind=kind), self.assertRaises(ValueError):
                blind_index(self.key, kind, '13812345678')
        with self.assertRaises(TypeError):
            blind_index(self.key, 'phone', None)
        with self.assertRaises(TypeError):
            blind_index('k' * 32, 'phone', '13812345678')


class KeyTestCase(PIIErrorMixin, unittest.TestCase):
    "Test key derivation and loading"

    def test_derive_keys(self):
        "HKDF-SHA256 gives two distinct deterministic 32-byte keys"
        enc_key, index_key = derive_keys(MASTER)
        self.assertEqual((enc_key, index_key), derive_keys(MASTER))
        self.assertEqual(len(enc_key), 32)
        self.assertEqual(len(index_key), 32)
        self.assertNotEqual(enc_key, index_key)
        self.assertNotIn(enc_key, (MASTER, index_key))
        self.assertEqual(
            enc_key, hkdf_sha256(MASTER, b'dualrec pii encryption'))
        self.assertEqual(
            index_key, hkdf_sha256(MASTER, b'dualrec pii blind index'))

    def test_derive_keys_per_master(self):
        "Another master gives other keys; longer masters are accepted"
        keys = {MASTER: derive_keys(MASTER)}
        for master in [b'\xff' * 32, MASTER + b'\x00', bytes(64)]:
            with self.subTest(master=master):
                keys[master] = derive_keys(master)
        flat = [key for pair in keys.values() for key in pair]
        self.assertEqual(len(set(flat)), len(flat))

    def test_derive_keys_too_short(self):
        "A master under 32 bytes is refused"
        for master in [b'', b'x' * 16, b'x' * 31]:
            with self.subTest(length=len(master)):
                self.assertPIIError('key_too_short', derive_keys, master)

    def test_load_master_key(self):
        "Hexadecimal and both base64 alphabets are read"
        key48 = bytes(range(200, 248))
        key_dash = b'\xfb\xff' * 16  # encodes with '-' and '_' in urlsafe
        cases = [
            (MASTER.hex(), MASTER),
            (MASTER.hex().upper(), MASTER),
            ('  ' + MASTER.hex() + '\n', MASTER),
            (base64.b64encode(MASTER).decode(), MASTER),
            (base64.b64encode(MASTER).decode().rstrip('='), MASTER),
            (base64.urlsafe_b64encode(key_dash).decode(), key_dash),
            (base64.urlsafe_b64encode(key_dash).decode().rstrip('='),
                key_dash),
            (base64.b64encode(key_dash).decode(), key_dash),
            (base64.b64encode(key48).decode(), key48),
            ]
        self.assertRegex(cases[5][0], '[-_]')
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(load_master_key(value), expected)

    def test_load_master_key_errors(self):
        "Anything else is refused with 'key_format'"
        cases = [
            None, b'0' * 64, '', '   ', MASTER.hex()[:-1],
            MASTER.hex()[:-2], MASTER.hex() + '00',
            base64.b64encode(bytes(31)).decode(),
            base64.b64encode(bytes(16)).decode(),
            'not a key, really not a key at all, is it?!',
            base64.b64encode(MASTER).decode()[:-2] + '*=',
            base64.b64encode(MASTER).decode().rstrip('=') + 'A=',
            '=' + base64.b64encode(MASTER).decode(),
            base64.b64encode(MASTER).decode() + '=',
            base64.b64encode(bytes(33)).decode() + '=',
            ]
        for value in cases:
            with self.subTest(value=value):
                exception = self.assertPIIError(
                    'key_format', load_master_key, value)
                if value and value.strip():
                    self.assertNotIn(str(value), str(exception))

    def test_loaded_key_derives(self):
        "A configured key can be derived"
        self.assertEqual(derive_keys(load_master_key(MASTER.hex())),
            derive_keys(MASTER))


class EncryptionTestCase(PIIErrorMixin, unittest.TestCase):
    "Test encryption at rest"

    def setUp(self):
        self.key, _ = derive_keys(MASTER)

    def test_round_trip(self):
        "Decrypting gives the plaintext back, whatever its script"
        for plaintext in ['', 'a', '11010519491231002X', '张三',
                '欧阳娜娜 · 北京市朝阳区', 'emoji 😀', 'x' * 1000]:
            for associated in [b'', b'dualrec.ticket,id_number']:
                with self.subTest(plaintext=plaintext[:20],
                        associated=associated):
                    token = encrypt_value(self.key, plaintext, associated)
                    self.assertEqual(
                        decrypt_value(self.key, token, associated),
                        plaintext)

    def test_token_format(self):
        "The token is 'v1.' and unpadded urlsafe base64 of a known size"
        for plaintext in ['', '张三', 'x' * 100]:
            with self.subTest(plaintext=plaintext[:20]):
                token = encrypt_value(self.key, plaintext)
                self.assertRegex(token, r'\Av1\.[A-Za-z0-9_-]+\Z')
                size = 12 + len(plaintext.encode('utf-8')) + 16
                body = token[3:]
                self.assertEqual(len(body), -(-size * 4 // 3))
                raw = base64.urlsafe_b64decode(body + '=' * (-len(body) % 4))
                self.assertEqual(len(raw), size)
                if plaintext:
                    self.assertNotIn(plaintext.encode('utf-8'), raw)

    def test_fresh_nonce(self):
        "Two encryptions of the same value differ"
        tokens = {encrypt_value(self.key, '11010519491231002X')
            for _ in range(20)}
        self.assertEqual(len(tokens), 20)
        nonces = {t[3:19] for t in tokens}  # 16 chars = 12 bytes
        self.assertEqual(len(nonces), 20)

    def test_tampered_character(self):
        "Changing any single character of the token fails"
        token = encrypt_value(self.key, '张三', b'aad')
        for position in range(len(token)):
            original = token[position]
            replacement = 'A' if original != 'A' else 'B'
            if position < 3:
                replacement = {'v': 'w', '1': '2', '.': '-'}[original]
            tampered = token[:position] + replacement + token[position + 1:]
            with self.subTest(position=position):
                self.assertPIIError('decrypt_failed',
                    decrypt_value, self.key, tampered, b'aad')

    def test_tampered_byte(self):
        "Flipping one bit of any byte of nonce, ciphertext or tag fails"
        token = encrypt_value(self.key, '11010519491231002X')
        body = token[3:]
        raw = base64.urlsafe_b64decode(body + '=' * (-len(body) % 4))
        for position in range(len(raw)):
            data = bytearray(raw)
            data[position] ^= 0x01
            tampered = 'v1.' + base64.urlsafe_b64encode(
                bytes(data)).decode().rstrip('=')
            with self.subTest(position=position):
                self.assertPIIError('decrypt_failed',
                    decrypt_value, self.key, tampered)

    def test_wrong_key(self):
        "Another key fails"
        token = encrypt_value(self.key, '13812345678')
        _, index_key = derive_keys(MASTER)
        other_key, _ = derive_keys(b'\x01' * 32)
        for key in [index_key, other_key]:
            with self.subTest(key=key.hex()):
                self.assertPIIError('decrypt_failed',
                    decrypt_value, key, token)

    def test_wrong_associated(self):
        "A ciphertext moved to another field fails"
        token = encrypt_value(
            self.key, '13812345678', b'dualrec.ticket,id_number')
        for associated in [b'', b'dualrec.ticket,phone',
                b'dualrec.ticket,id_number\x00']:
            with self.subTest(associated=associated):
                self.assertPIIError('decrypt_failed',
                    decrypt_value, self.key, token, associated)
        token = encrypt_value(self.key, '13812345678')
        self.assertPIIError('decrypt_failed', decrypt_value, self.key,
            token, b'dualrec.ticket,phone')

    def test_malformed_tokens(self):
        "Truncated, versioned, padded or foreign tokens fail"
        token = encrypt_value(self.key, '张三')
        cases = [
            None, b'v1.abc', '', 'v1', 'v1.', 'v1.!!!!',
            'v2' + token[2:], 'V1' + token[2:], token[3:], 'v1' + token[3:],
            token[:-1], token[:-4], token + 'A', token + '=',
            token[:3] + '=' + token[3:], token[:20] + '.' + token[20:],
            token[:3] + 'A' * 36, token.replace('v1.', 'v1..'),
            ]
        for value in cases:
            with self.subTest(token=value):
                self.assertPIIError('decrypt_failed',
                    decrypt_value, self.key, value)

    def test_non_canonical_base64(self):
        "Unused trailing bits of the base64 are refused too"
        # 28 and 29 raw bytes leave 4 and 2 unused bits in the last char
        for plaintext in ['', 'a']:
            token = encrypt_value(self.key, plaintext)
            last = B64_ALPHABET.index(token[-1])
            twin = token[:-1] + B64_ALPHABET[last ^ 1]
            body = twin[3:]
            self.assertEqual(
                base64.urlsafe_b64decode(body + '=' * (-len(body) % 4)),
                base64.urlsafe_b64decode(
                    token[3:] + '=' * (-len(body) % 4)))
            with self.subTest(plaintext=plaintext):
                self.assertPIIError('decrypt_failed',
                    decrypt_value, self.key, twin)

    def test_key_size(self):
        "The encryption key must be exactly 32 bytes"
        token = encrypt_value(self.key, 'x')
        for key in [b'k' * 16, b'k' * 31, b'k' * 33]:
            with self.subTest(length=len(key)):
                self.assertPIIError('key_length',
                    encrypt_value, key, 'x')
                self.assertPIIError('key_length',
                    decrypt_value, key, token)
        with self.assertRaises(TypeError):
            encrypt_value(self.key, None)

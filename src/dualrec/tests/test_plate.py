# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import base64
import hashlib
import hmac
import unittest
from decimal import Decimal

from dualrec.coupon import derive_token_key
from dualrec.plate import (
    MAX_RANGE, PlateError, RateLimiter, SerialRange, call_fee, call_units,
    derive_plate_key, format_serial, merge_ranges, parse_serial, plate_url,
    sign_serial, split_count, verify_payload)

MASTER = bytes(range(32))
KEY = derive_plate_key(MASTER)


class SerialTestCase(unittest.TestCase):

    def test_parse(self):
        for text, expected in [
                ('NC2026000001', ('NC', 2026, 1)),
                (' nc2026010000 ', ('NC', 2026, 10000)),
                ('A2030999999', ('A', 2030, 999999)),
                ('ABCD2026000042', ('ABCD', 2026, 42)),
                ]:
            with self.subTest(text=text):
                self.assertEqual(parse_serial(text), expected)

    def test_parse_refused(self):
        for text in ['', 'NC', 'NC2026', 'NC20260000001', 'NC202600001',
                'NC2026000000', 'ABCDE2026000001', 'N-2026000001',
                '2026000001', 'NC２０２６000001', 'NC2026 000001']:
            with self.subTest(text=text), self.assertRaises(PlateError) as cm:
                parse_serial(text)
            self.assertEqual(cm.exception.code, 'bad_serial')
        with self.assertRaises(TypeError):
            parse_serial(2026000001)

    def test_format(self):
        self.assertEqual(format_serial('NC', 2026, 1), 'NC2026000001')
        self.assertEqual(format_serial('NC', 2026, 999999), 'NC2026999999')
        for args, code in [
                (('nc', 2026, 1), 'bad_prefix'),
                (('', 2026, 1), 'bad_prefix'),
                (('NC', 1999, 1), 'bad_year'),
                (('NC', 2026, 0), 'bad_counter'),
                (('NC', 2026, 1000000), 'bad_counter'),
                (('NC', 2026, True), 'bad_counter'),
                ]:
            with self.subTest(args=args), \
                    self.assertRaises(PlateError) as cm:
                format_serial(*args)
            self.assertEqual(cm.exception.code, code)

    def test_range(self):
        r = SerialRange.parse('NC2026000001', 'NC2026010000')
        self.assertEqual(len(r), 10000)
        self.assertEqual((r.first, r.last), ('NC2026000001', 'NC2026010000'))
        self.assertEqual(str(r), 'NC2026000001-NC2026010000')
        self.assertIn('NC2026005000', r)
        self.assertIn('nc2026010000', r)
        self.assertNotIn('NC2026010001', r)
        self.assertNotIn('NC2027000001', r)
        self.assertNotIn('garbage', r)
        serials = list(SerialRange.parse('NC2026000099', 'NC2026000101'))
        self.assertEqual(serials,
            ['NC2026000099', 'NC2026000100', 'NC2026000101'])
        single = SerialRange.parse('NC2026000007')
        self.assertEqual((len(single), str(single)), (1, 'NC2026000007'))
        self.assertEqual(SerialRange.parse('NC2026000007', ''), single)

    def test_range_refused(self):
        for first, last, code in [
                ('NC2026000010', 'NC2026000009', 'bad_range'),
                ('NC2026000001', 'NB2026000002', 'mixed_range'),
                ('NC2026000001', 'NC2027000002', 'mixed_range'),
                ('NC2026000001', 'NC2026x', 'bad_serial'),
                ]:
            with self.subTest(first=first, last=last), \
                    self.assertRaises(PlateError) as cm:
                SerialRange.parse(first, last)
            self.assertEqual(cm.exception.code, code)
        self.assertEqual(len(SerialRange('NC', 2026, 1, MAX_RANGE)),
            MAX_RANGE)
        with self.assertRaises(PlateError) as cm:
            SerialRange('NC', 2026, 1, MAX_RANGE + 1)
        self.assertEqual(cm.exception.code, 'range_too_large')

    def test_overlaps(self):
        a = SerialRange.parse('NC2026000001', 'NC2026000100')
        for first, last, expected in [
                ('NC2026000100', 'NC2026000200', True),
                ('NC2026000050', 'NC2026000060', True),
                ('NC2025000001', 'NC2025000100', False),
                ('NC2026000101', 'NC2026000200', False),
                ('NB2026000001', 'NB2026000100', False),
                ]:
            b = SerialRange.parse(first, last)
            with self.subTest(b=b):
                self.assertEqual(a.overlaps(b), expected)
                self.assertEqual(b.overlaps(a), expected)

    def test_merge_ranges(self):
        serials = ['NC2026000003', 'NC2026000001', 'NC2026000002',
            'NC2026000002', 'NC2026000010', 'NB2026000011', 'NC2027000004']
        self.assertEqual([str(r) for r in merge_ranges(serials)], [
                'NB2026000011', 'NC2026000001-NC2026000003',
                'NC2026000010', 'NC2027000004'])
        self.assertEqual(merge_ranges([]), [])

    def test_split_count(self):
        stock = [f'NC2026{n:06d}' for n in [9, 3, 4, 5, 20, 21]]
        taken, ranges = split_count(stock, 4)
        self.assertEqual(taken, ['NC2026000003', 'NC2026000004',
                'NC2026000005', 'NC2026000009'])
        self.assertEqual([str(r) for r in ranges],
            ['NC2026000003-NC2026000005', 'NC2026000009'])
        with self.assertRaises(PlateError) as cm:
            split_count(stock, 7)
        self.assertEqual((cm.exception.code, cm.exception.params),
            ('not_enough', {'count': 7, 'available': 6}))
        for count in [0, -1, True, 1.0]:
            with self.subTest(count=count), \
                    self.assertRaises(PlateError) as cm:
                split_count(stock, count)
            self.assertEqual(cm.exception.code, 'bad_count')


class SignatureTestCase(unittest.TestCase):

    def test_signature_definition(self):
        "The signature is the HMAC of the module's documentation"
        digest = hmac.new(KEY, b'plate.NC2026000001', hashlib.sha256).digest()
        expected = base64.urlsafe_b64encode(digest[:12]).decode('ascii')
        self.assertEqual(sign_serial(KEY, 'NC2026000001'),
            'NC2026000001.' + expected)
        self.assertEqual(sign_serial(KEY, 'nc2026000001'),
            'NC2026000001.' + expected)

    def test_key(self):
        self.assertEqual(len(KEY), 32)
        self.assertEqual(derive_plate_key(MASTER), KEY)
        self.assertNotEqual(KEY, derive_token_key(MASTER))
        self.assertNotEqual(KEY, derive_plate_key(bytes(32)))
        with self.assertRaises(PlateError) as cm:
            derive_plate_key(b'short')
        self.assertEqual(cm.exception.code, 'key_too_short')
        with self.assertRaises(TypeError):
            sign_serial('a' * 32, 'NC2026000001')

    def test_verify(self):
        url = plate_url('https://nc.example.cn/m/', KEY, 'NC2026000042')
        self.assertTrue(url.startswith(
                'https://nc.example.cn/m/NC2026000042.'))
        for payload in [url, url + '?from=wx', url + '#top',
                url.rsplit('/', 1)[1], f'  {url}\n']:
            with self.subTest(payload=payload):
                self.assertEqual(verify_payload(KEY, payload),
                    'NC2026000042')

    def test_forged(self):
        "Altered, enumerated, re-keyed or malformed payloads are refused"
        good = sign_serial(KEY, 'NC2026000042')
        serial, signature = good.split('.')
        other_key = derive_plate_key(bytes(32))
        flipped = ('A' if signature[0] != 'A' else 'B') + signature[1:]
        for payload in [
                'NC2026000043.' + signature,  # the next serial
                serial + '.' + flipped,
                sign_serial(other_key, serial),
                serial.lower() + '.' + signature,
                serial,
                serial + '.',
                serial + '.' + signature[:-1],
                serial + '.' + signature + 'A',
                good + '.x',
                'garbage.' + signature,
                '',
                'https://nc.example.cn/m/',
                serial + '.' + signature[:-1] + '好',
                ]:
            with self.subTest(payload=payload), \
                    self.assertRaises(PlateError) as cm:
                verify_payload(KEY, payload)
            self.assertEqual((cm.exception.code, cm.exception.status),
                ('forged', 404))

    def test_bad_base_url(self):
        for base in ['nc.example.cn', 'ftp://x', None]:
            with self.subTest(base=base), \
                    self.assertRaises(PlateError) as cm:
                plate_url(base, KEY, 'NC2026000001')
            self.assertEqual(cm.exception.code, 'bad_base_url')


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class RateLimiterTestCase(unittest.TestCase):

    def test_limit_and_window(self):
        clock = Clock()
        limiter = RateLimiter(3, 60, clock=clock)
        key = ('NC2026000001', '10.0.0.1')
        self.assertEqual([limiter.hit(key) for _ in range(3)], [0, 0, 0])
        self.assertEqual(limiter.remaining(key), 0)
        clock.now += 10
        self.assertEqual(limiter.hit(key), 50)
        # another client or another plate is not limited
        self.assertEqual(limiter.hit(('NC2026000001', '10.0.0.2')), 0)
        self.assertEqual(limiter.hit(('NC2026000002', '10.0.0.1')), 0)
        clock.now += 50
        # the first hits left the window; refused hits were not counted
        self.assertEqual(limiter.remaining(key), 3)
        self.assertEqual(limiter.hit(key), 0)
        self.assertEqual(limiter.remaining(key), 2)

    def test_sliding(self):
        clock = Clock()
        limiter = RateLimiter(2, 10, clock=clock)
        self.assertEqual(limiter.hit('k'), 0)
        clock.now += 6
        self.assertEqual(limiter.hit('k'), 0)
        clock.now += 3
        self.assertEqual(limiter.hit('k'), 1)
        clock.now += 1.5
        self.assertEqual(limiter.hit('k'), 0)
        self.assertGreater(limiter.hit('k'), 0)

    def test_bounded_keys(self):
        clock = Clock()
        limiter = RateLimiter(1, 60, max_keys=100, clock=clock)
        for n in range(1000):
            limiter.hit(n)
        self.assertEqual(len(limiter._hits), 100)
        self.assertEqual(limiter.hit(999), 60)  # the recent keys are kept

    def test_arguments(self):
        for limit, window in [(0, 1), (1, 0), (True, 1), (1.5, 1)]:
            with self.subTest(limit=limit, window=window), \
                    self.assertRaises(ValueError):
                RateLimiter(limit, window)


class FeeTestCase(unittest.TestCase):

    def test_fees(self):
        price = Decimal('0.15')
        for duration, mode, expected in [
                (0, 'per_call', '0.00'),
                (0, 'per_minute', '0.00'),
                (1, 'per_call', '0.15'),
                (3600, 'per_call', '0.15'),
                (1, 'per_minute', '0.15'),
                (60, 'per_minute', '0.15'),
                (61, 'per_minute', '0.30'),
                (600, 'per_minute', '1.50'),
                (601, 'per_minute', '1.65'),
                ]:
            with self.subTest(duration=duration, mode=mode):
                self.assertEqual(call_fee(duration, mode, price),
                    Decimal(expected))
        self.assertEqual(call_fee(61, 'per_minute', Decimal('0.125')),
            Decimal('0.25'))
        self.assertEqual(call_fee(121, 'per_minute', Decimal('0.125')),
            Decimal('0.38'))

    def test_units(self):
        "Minutes started: 0 s none, 1-60 s one, 61 s two"
        for duration, units in [(0, 0), (1, 1), (59, 1), (60, 1), (61, 2),
                (120, 2), (121, 3), (3600, 60)]:
            with self.subTest(duration=duration):
                self.assertEqual(call_units(duration), units)
        for bad in (-1, 1.5, True, '60'):
            with self.subTest(bad=bad), self.assertRaises(PlateError):
                call_units(bad)

    def test_refused(self):
        for args, code in [
                ((-1, 'per_call', Decimal(1)), 'bad_duration'),
                ((1.5, 'per_call', Decimal(1)), 'bad_duration'),
                ((True, 'per_call', Decimal(1)), 'bad_duration'),
                ((1, 'per_second', Decimal(1)), 'bad_fee_mode'),
                ((1, 'per_call', 1), 'bad_price'),
                ((1, 'per_call', Decimal(-1)), 'bad_price'),
                ((1, 'per_call', Decimal('NaN')), 'bad_price'),
                ]:
            with self.subTest(args=args), \
                    self.assertRaises(PlateError) as cm:
                call_fee(*args)
            self.assertEqual(cm.exception.code, code)

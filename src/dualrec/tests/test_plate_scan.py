# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The scan page's tokens, codes, limits and HTML, without a database."""
import unittest

from dualrec import plate_page as pages
from dualrec import plate_scan as scans

KEY = scans.derive_scan_key(b'm' * 32)


class Clock:
    value = 1000.0

    def __call__(self):
        return self.value


class ScanHelpersTestCase(unittest.TestCase):

    def test_form_token(self):
        "A form token is bound to its plate and lives FORM_TOKEN_TTL"
        token = scans.form_token(KEY, 'NC2026000001', 10_000)
        self.assertTrue(scans.check_form_token(KEY, 'NC2026000001', token,
                10_000 + scans.FORM_TOKEN_TTL))
        for serial, value, now in [
                ('NC2026000002', token, 10_001),
                ('NC2026000001', token, 10_000 + scans.FORM_TOKEN_TTL + 1),
                ('NC2026000001', token, 9_999),
                ('NC2026000001', None, 10_001),
                ('NC2026000001', 'x.y', 10_001),
                ('NC2026000001', token[:-1] + '0', 10_001)]:
            with self.subTest(serial=serial, value=value, now=now):
                self.assertFalse(scans.check_form_token(KEY, serial, value,
                        now))
        other = scans.derive_scan_key(b'n' * 32)
        self.assertFalse(scans.check_form_token(other, 'NC2026000001',
                token, 10_001))

    def test_codes(self):
        "Codes are 6 digits; their hash depends on the request and key"
        handle, code = scans.new_code()
        self.assertRegex(code, r'^\d{6}$')
        self.assertGreaterEqual(len(handle), 20)
        digest = scans.code_hash(KEY, handle, code)
        self.assertEqual(digest, scans.code_hash(KEY, handle, f' {code} '))
        self.assertNotEqual(digest, scans.code_hash(KEY, handle + 'x', code))
        self.assertNotIn(code, digest)
        self.assertEqual(len({scans.new_code()[0] for _ in range(50)}), 50)

    def test_client_hash(self):
        "An address is kept as 16 hex characters of a keyed hash"
        value = scans.client_hash(KEY, '10.1.2.3')
        self.assertRegex(value, r'^[0-9a-f]{16}$')
        self.assertNotEqual(value, scans.client_hash(KEY, '10.1.2.4'))
        self.assertNotIn('10.1', value)

    def test_mask_vehicle(self):
        self.assertEqual(scans.mask_vehicle('粤A12345'), '粤A***45')
        self.assertEqual(scans.mask_vehicle('粤AD12345'), '粤A****45')
        self.assertEqual(scans.mask_vehicle(''), '')

    def test_limits(self):
        "Per client first, then per plate; the window frees them"
        clock = Clock()
        limits = scans.Limits({'call': (3, 2)}, window=60, clock=clock)
        self.assertEqual(limits.hit('call', 'P1', 'c1'), 0)
        self.assertEqual(limits.hit('call', 'P1', 'c1'), 0)
        self.assertGreater(limits.hit('call', 'P1', 'c1'), 0)
        self.assertEqual(limits.hit('call', 'P1', 'c2'), 0)
        # the plate has had its 3 calls, from any client
        self.assertGreater(limits.hit('call', 'P1', 'c3'), 0)
        self.assertEqual(limits.hit('call', 'P2', 'c3'), 0)
        clock.value += 61
        self.assertEqual(limits.hit('call', 'P1', 'c1'), 0)


class PageTestCase(unittest.TestCase):

    def test_bound_page(self):
        "The bound page is small, escaped and needs no script"
        html = pages.bound_page('', 'NC2026000001.sig', 't.k', '粤A***45',
            ask_caller=True, minutes=30)
        self.assertLess(len(html.encode('utf-8')), 50 * 1024)
        self.assertNotIn('<script', html)
        self.assertIn('action="NC2026000001.sig/call"', html)
        self.assertIn('name="caller"', html)
        self.assertEqual(html.count('name="token" value="t.k"'), 2)
        for key in scans.PRESETS:
            self.assertIn(f'value="{key}"', html)
        html = pages.unbound_page('../../', 'NC1.sig', 't', error='<b>',
            vehicle='"><script>')
        self.assertIn('action="../../NC1.sig/bind/request"', html)
        self.assertNotIn('<script>', html)
        self.assertIn('&lt;b&gt;', html)

    def test_call_page(self):
        "The number to dial and its extension after a pause"
        html = pages.call_page('../', 'NC1.sig', '17000000001', '0012',
            '12:30', 30)
        self.assertIn('href="tel:17000000001,0012"', html)
        self.assertIn('170 0000 0001', html)
        self.assertIn('12:30', html)
        self.assertIn('href="../NC1.sig"', html)

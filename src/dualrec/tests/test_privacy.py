# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The privacy-number and SMS providers against their local simulators."""
import datetime as dt
import unittest

from dualrec.privacy import (
    HttpPrivacyProvider, PrivacyError, check_number, sign_request,
    verify_request)
from dualrec.privacy_sim import PrivacySimulator
from dualrec.sms import HttpSmsProvider, SmsError, SmsSimulator

A, B, C = '13800138000', '13900139000', '13700137000'


class Clock:
    def __init__(self):
        self.value = dt.datetime(2026, 12, 4, 3, 0, 0)

    def __call__(self):
        return self.value


class SignatureTestCase(unittest.TestCase):

    def test_sign_verify(self):
        "A signature verifies once, with the same secret, body and time"
        signature = sign_request('s3cret', 'POST', '/bindings/axn', 1000,
            'n1', b'{}')
        headers = {'X-Timestamp': '1000', 'X-Nonce': 'n1',
            'X-Signature': signature}
        self.assertTrue(verify_request('s3cret', 'POST', '/bindings/axn',
                headers, b'{}', now=1010))
        for secret, body, now in [('other', b'{}', 1010),
                ('s3cret', b'{"a":1}', 1010), ('s3cret', b'{}', 2000)]:
            with self.subTest(secret=secret, body=body, now=now):
                self.assertFalse(verify_request(secret, 'POST',
                        '/bindings/axn', headers, body, now=now))
        self.assertFalse(verify_request('s3cret', 'POST', '/bindings/axn',
                {'X-Timestamp': 'x'}, b'{}', now=1000))

    def test_check_number(self):
        "Mainland mobile numbers only, spaces and +86 removed"
        self.assertEqual(check_number('+86 138-0013-8000'), A)
        for bad in ['', None, '2380013800', '1380013800a', '010-12345678',
                '138001380001']:
            with self.subTest(bad=bad), self.assertRaises(PrivacyError) as cm:
                check_number(bad)
            self.assertEqual(cm.exception.code, 'bad_number')


class PrivacySimulatorTestCase(unittest.TestCase):

    def setUp(self):
        self.clock = Clock()
        self.simulator = PrivacySimulator(numbers=['17000000001',
                '17000000002'], secret='k' * 32, now=self.clock).start()
        self.addCleanup(self.simulator.stop)
        self.provider = HttpPrivacyProvider(self.simulator.url, 'app',
            'k' * 32, timeout=3)

    def later(self, minutes):
        return self.clock.value + dt.timedelta(minutes=minutes)

    def test_axn_bind_route_unbind(self):
        "AXN puts anyone through to A until unbound"
        binding = self.provider.bind_axn(A, self.later(30), 'NC2026000001')
        self.assertEqual(binding.secret_no, '17000000001')
        self.assertEqual(binding.kind, 'axn')
        self.assertIsNone(binding.extension)
        self.assertEqual(binding.expires_at, self.later(30))
        self.assertEqual(binding.out_id, 'NC2026000001')
        self.assertEqual(self.simulator.route('17000000001', B), A)
        self.provider.unbind(binding.binding_id)
        self.assertIsNone(self.simulator.route('17000000001', B))
        with self.assertRaises(PrivacyError) as cm:
            self.provider.unbind(binding.binding_id)
        self.assertEqual(cm.exception.code, 'unknown_binding')

    def test_axb_only_b(self):
        "AXB puts only B through"
        binding = self.provider.bind_axb(A, B, self.later(5), 'NC1')
        self.assertEqual(self.simulator.route(binding.secret_no, B), A)
        self.assertIsNone(self.simulator.route(binding.secret_no, C))

    def test_pool_and_expiry(self):
        "The pool runs out; an expired binding frees its number"
        self.provider.bind_axn(A, self.later(5), 'NC1')
        self.provider.bind_axn(B, self.later(60), 'NC2')
        with self.assertRaises(PrivacyError) as cm:
            self.provider.bind_axn(C, self.later(5), 'NC3')
        self.assertEqual(cm.exception.code, 'no_number_available')
        self.assertEqual(cm.exception.status, 503)
        self.clock.value = self.later(6)
        binding = self.provider.bind_axn(C, self.later(5), 'NC3')
        self.assertEqual(binding.secret_no, '17000000001')
        self.assertEqual(self.simulator.route('17000000001', B), C)

    def test_extensions(self):
        "With extensions AXN bindings share X, each with its extension"
        self.simulator.extensions = True
        first = self.provider.bind_axn(A, self.later(5), 'NC1')
        second = self.provider.bind_axn(B, self.later(5), 'NC2')
        self.assertEqual(first.secret_no, second.secret_no)
        self.assertEqual((first.extension, second.extension),
            ('0001', '0002'))
        self.assertEqual(self.simulator.route(first.secret_no, C, '0002'),
            B)
        self.assertIsNone(self.simulator.route(first.secret_no, C))

    def test_refusals(self):
        "Bad numbers, bad expiry, bad signature and no server are coded"
        with self.assertRaises(PrivacyError) as cm:
            self.provider.bind_axn('12345', self.later(5), 'NC1')
        self.assertEqual(cm.exception.code, 'bad_number')
        with self.assertRaises(PrivacyError) as cm:
            self.provider.bind_axn(A, self.later(-1), 'NC1')
        self.assertEqual(cm.exception.code, 'bad_expiry')
        forger = HttpPrivacyProvider(self.simulator.url, 'app', 'x' * 32)
        with self.assertRaises(PrivacyError) as cm:
            forger.bind_axn(A, self.later(5), 'NC1')
        self.assertEqual(cm.exception.code, 'bad_signature')
        self.assertEqual(self.simulator.active(), [])
        url = self.simulator.url
        self.simulator.stop()
        with self.assertRaises(PrivacyError) as cm:
            HttpPrivacyProvider(url, 'app', 'k' * 32, timeout=1).bind_axn(
                A, self.later(5), 'NC1')
        self.assertEqual(cm.exception.code, 'provider_unreachable')
        with self.assertRaises(PrivacyError) as cm:
            HttpPrivacyProvider('', 'app', '')
        self.assertEqual(cm.exception.code, 'provider_unreachable')


class SmsTestCase(unittest.TestCase):

    def setUp(self):
        self.simulator = SmsSimulator(secret='s' * 32,
            fail_phones={C}).start()
        self.addCleanup(self.simulator.stop)
        self.provider = HttpSmsProvider(self.simulator.url, 'app', 's' * 32)

    def test_send_and_read(self):
        "A message is sent and the simulator keeps it"
        message_id = self.provider.send(A, 'plate_bind_code',
            {'code': '123456', 'minutes': 5})
        message = self.simulator.last(A)
        self.assertEqual(message.message_id, message_id)
        self.assertEqual(message.params, {'code': '123456', 'minutes': '5'})
        self.assertIn('123456', message.text)
        self.assertIsNone(self.simulator.last(B))

    def test_refusals(self):
        "Bad numbers, templates, refused numbers and signatures are coded"
        for phone, template, params, code in [
                ('123', 'plate_bind_code', {'code': '1', 'minutes': 5},
                    'bad_number'),
                (A, 'free_text', {'text': 'hi'}, 'bad_template'),
                (A, 'plate_bind_code', {'code': '1'}, 'bad_template'),
                (C, 'plate_bind_code', {'code': '1', 'minutes': 5},
                    'sms_refused')]:
            with self.subTest(code=code), self.assertRaises(SmsError) as cm:
                self.provider.send(phone, template, params)
            self.assertEqual(cm.exception.code, code)
        with self.assertRaises(SmsError) as cm:
            HttpSmsProvider(self.simulator.url, 'app', 'x' * 32).send(
                A, 'plate_bind_code', {'code': '1', 'minutes': 5})
        self.assertEqual(cm.exception.code, 'bad_signature')
        self.assertEqual(self.simulator.messages, [])

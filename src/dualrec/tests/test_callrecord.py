# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import unittest
from decimal import Decimal

from dualrec.callrecord import (
    CallRecordError, parse_record, read_csv, read_rows)

UTC = dt.timezone.utc

PUSH = {
    'call_id': '100227866401^102887866401',
    'sub_id': '1000099990000',
    'out_id': 'NC2026000042',
    'phone_no': '13812345678',
    'secret_no': '17012341921',
    'peer_no': '18912347726',
    'call_type': '0',
    'call_time': '2026-12-01 10:00:00',
    'start_time': '2026-12-01 10:00:08',
    'release_time': '2026-12-01 10:01:10',
    'release_dir': '2',
    'release_cause': '16',
    'unconnected_cause': '0',
    }


class ParseTestCase(unittest.TestCase):

    def test_push(self):
        "Every field of a pushed record, numbers masked, times in UTC"
        record = parse_record({**PUSH, 'call_id': 'c-1'})
        self.assertEqual(record.call_id, 'c-1')
        self.assertEqual(record.binding_id, '1000099990000')
        self.assertEqual(record.out_id, 'NC2026000042')
        self.assertEqual(record.callee, '138****5678')
        self.assertEqual(record.virtual, '170****1921')
        self.assertEqual(record.caller, '189****7726')
        self.assertEqual(record.call_time, dt.datetime(2026, 12, 1, 2, 0, 0,
                tzinfo=UTC))
        self.assertEqual(record.answer_time,
            dt.datetime(2026, 12, 1, 2, 0, 8, tzinfo=UTC))
        self.assertEqual(record.release_time,
            dt.datetime(2026, 12, 1, 2, 1, 10, tzinfo=UTC))
        self.assertEqual(record.release_dir, 'callee')
        self.assertEqual(record.release_cause, '16')
        self.assertEqual(record.unconnected_cause, 'normal')
        self.assertEqual(record.duration, 62)
        self.assertTrue(record.connected)
        self.assertIsNone(record.cost)
        # no full number is kept anywhere in the record
        self.assertNotIn('12345678', repr(record))

    def test_chinese_headers(self):
        record = parse_record({
                '通话ID': 'c-2', '绑定ID': 'b-2', '业务ID': 'NC2026000001',
                '主叫号码': '+8618912347726', '隐私号码': '170****1921',
                '被叫号码': '8613812345678',
                '呼叫时间': '2026/12/01 23:59:50',
                '接通时间': '', '释放时间': '2026/12/02 00:00:05',
                '释放方向': '1', '未接通原因': '4', '通话时长': '0',
                '费用': '0.1', 'unknown column': 'x'})
        self.assertEqual((record.caller, record.virtual, record.callee),
            ('189****7726', '170****1921', '138****5678'))
        self.assertEqual(record.call_time,
            dt.datetime(2026, 12, 1, 15, 59, 50, tzinfo=UTC))
        self.assertIsNone(record.answer_time)
        self.assertEqual(record.duration, 0)
        self.assertFalse(record.connected)
        self.assertEqual(record.release_dir, 'caller')
        self.assertEqual(record.unconnected_cause, 'other')
        self.assertEqual(record.cost, Decimal('0.10'))

    def test_duration_given(self):
        record = parse_record({**PUSH, 'duration': '60', 'cost': '0.30'})
        self.assertEqual((record.duration, record.cost),
            (60, Decimal('0.30')))
        record = parse_record({**PUSH, 'duration': 61.0})
        self.assertEqual(record.duration, 61)

    def test_offset_and_datetime(self):
        record = parse_record({**PUSH,
                'call_time': '2026-12-01T02:00:00Z',
                'start_time': dt.datetime(2026, 12, 1, 10, 0, 8),
                'release_time': '2026-12-01T10:01:10+08:00'})
        self.assertEqual(record.call_time,
            dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
        self.assertEqual(record.duration, 62)

    def test_refused(self):
        for change, code, field in [
                ({'call_id': ''}, 'missing_field', 'call_id'),
                ({'call_id': 'a b'}, 'bad_field', 'call_id'),
                ({'out_id': None}, 'missing_field', 'out_id'),
                ({'call_time': ''}, 'missing_field', 'call_time'),
                ({'call_time': 'yesterday'}, 'bad_time', 'call_time'),
                ({'start_time': '2026-12-01 09:59:59'}, 'time_order',
                    'answer_time'),
                ({'release_time': '2026-12-01 10:00:07'}, 'time_order',
                    'release_time'),
                ({'release_time': ''}, 'missing_field', 'release_time'),
                ({'peer_no': '189-ABC'}, 'bad_number', 'caller'),
                ({'phone_no': '12'}, 'bad_number', 'callee'),
                ({'duration': '-3'}, 'bad_duration', 'duration'),
                ({'duration': '1e3'}, 'bad_duration', 'duration'),
                ({'duration': '90000'}, 'bad_duration', 'duration'),
                ({'start_time': '', 'duration': '5'}, 'bad_duration',
                    'duration'),
                ({'release_time': '2026-12-03 10:01:10'}, 'bad_duration',
                    'duration'),
                ({'cost': 'abc'}, 'bad_cost', 'cost'),
                ({'cost': '-0.1'}, 'bad_cost', 'cost'),
                ({'cost': 'NaN'}, 'bad_cost', 'cost'),
                ({'release_dir': '7'}, 'bad_field', 'release_dir'),
                ({'unconnected_cause': '9'}, 'bad_field',
                    'unconnected_cause'),
                ]:
            with self.subTest(change=change), \
                    self.assertRaises(CallRecordError) as cm:
                parse_record({**PUSH, **change})
            self.assertEqual(cm.exception.code, code)
            self.assertEqual(cm.exception.params['field'], field)

    def test_bad_number_not_echoed(self):
        with self.assertRaises(CallRecordError) as cm:
            parse_record({**PUSH, 'peer_no': '1891234772x'})
        self.assertNotIn('value', cm.exception.params)
        self.assertNotIn('1891234772', cm.exception.message)


class ReadTestCase(unittest.TestCase):

    def test_csv_rows(self):
        "Good and bad rows of a file: every row is accounted for"
        text = ('call_id,sub_id,out_id,peer_no,secret_no,phone_no,'
            'call_time,start_time,release_time,duration\r\n'
            'c1,b1,NC2026000001,18912347726,17012341921,13812345678,'
            '2026-12-01 10:00:00,2026-12-01 10:00:05,2026-12-01 10:00:35,\r\n'
            ',,,,,,,,,\r\n'
            'c2,b1,NC2026000001,18912347726,17012341921,13812345678,'
            'not a time,,,\r\n'
            'c3,b1,NC2026000002,,,,2026-12-01 11:00:00,,,0\r\n')
        for data in [text, text.encode('utf-8-sig'), text.encode('gb18030')]:
            rows = list(read_rows(read_csv(data)))
            self.assertEqual([(n, r.call_id if r else None,
                        e.code if e else None) for n, r, e in rows], [
                    (2, 'c1', None), (4, None, 'bad_time'), (5, 'c3', None)])
            self.assertEqual(rows[0][1].duration, 30)
            self.assertEqual(rows[2][1].caller, '')

    def test_gb18030_headers(self):
        data = ('通话ID,业务ID,呼叫时间\n'
            'c9,NC2026000009,2026-12-01 08:00:00\n').encode('gb18030')
        (number, record, error), = read_rows(read_csv(data))
        self.assertIsNone(error)
        self.assertEqual((record.call_id, record.out_id),
            ('c9', 'NC2026000009'))


class PushSignatureTestCase(unittest.TestCase):
    "The signature of the provider's push"

    def test_verify(self):
        "A signature of the secret, timestamp and body passes within 5 min"
        from dualrec.callrecord import sign_push, verify_push
        body = b'{"call_id": "c-1"}'
        signature = sign_push('s3cret', 1700000000, body)
        self.assertEqual(len(signature), 64)
        verify_push('s3cret', '1700000000', signature, body, 1700000299)
        verify_push('s3cret', '1700000000', 'sha256=' + signature.upper(),
            body, 1699999800)

    def test_refused(self):
        "Another body, secret or time, or nothing, is refused with a code"
        from dualrec.callrecord import sign_push, verify_push
        body = b'[]'
        good = sign_push('s3cret', 1700000000, body)
        for args, code in [
                (('s3cret', '1700000000', good, b'[ ]', 1700000000),
                    'push_bad_signature'),
                (('other', '1700000000', good, body, 1700000000),
                    'push_bad_signature'),
                (('s3cret', '1700000000', good, body, 1700000301),
                    'push_expired'),
                (('s3cret', '1700000000', good, body, 1699999699),
                    'push_expired'),
                (('s3cret', '17000x0000', good, body, 1700000000),
                    'push_expired'),
                (('s3cret', '1700000000', '中文', body, 1700000000),
                    'push_bad_signature'),
                (('s3cret', '', good, body, 1700000000), 'push_unsigned'),
                (('s3cret', '1700000000', None, body, 1700000000),
                    'push_unsigned'),
                (('', '1700000000', good, body, 1700000000),
                    'push_unsigned'),
                ]:
            with self.subTest(code=code, args=args[:2]), \
                    self.assertRaises(CallRecordError) as cm:
                verify_push(*args)
            self.assertEqual(cm.exception.code, code)

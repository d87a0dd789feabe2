# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The call records of the plates' privacy numbers: import, push, dedup."""
import csv
import datetime as dt
import io
import json
import os
import re
import threading
import time
import unittest
from decimal import Decimal

import polib

from trytond import backend
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import set_company
from trytond.modules.dualrec_core.tests.tools import as_user
from trytond.modules.dualrec_valueadd.tests.test_plate import set_up_plates
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, RouteTestCase, _DBTestCase, with_transaction)
from trytond.transaction import Transaction, TransactionError

from dualrec.callrecord import sign_push

from ..callrecord import REJECTION_CODES, mask_raw

SECRET = 'provider-shared-secret'
URL = f'/{DB_NAME}/dualrec/plates/calls'
POSTGRESQL = os.environ.get('DUALREC_TEST_BACKEND') == 'postgresql'


def record(call_id, out_id='NC2026000001', **values):
    "Return a pushed record in the provider's field names."
    result = {
        'call_id': call_id,
        'sub_id': 'S-1',
        'out_id': out_id,
        'phone_no': '13812345678',
        'secret_no': '17012341921',
        'peer_no': '18912347726',
        'call_time': '2026-12-01 10:00:00',
        'start_time': '2026-12-01 10:00:08',
        'release_time': '2026-12-01 10:01:10',
        'release_dir': '2',
        'release_cause': '16',
        'unconnected_cause': '0',
        'cost': '0.30',
        }
    result.update(values)
    return result


def produce_plates(last=5):
    """Produce a batch of plates through the workflow; sell the first to an
    insurer through an agent.  Return (company, other, users, insurer)."""
    pool = Pool()
    Batch = pool.get('dualrec.plate.batch')
    Plate = pool.get('dualrec.plate')
    Party = pool.get('party.party')
    company, other, users, product = set_up_plates()
    with set_company(company), as_user(users['plate']):
        batch = Batch(product=product, prefix='NC', year=2026, first=1,
            last=last)
        batch.save()
        Batch.produce([batch])
    insurer, agent = Party.create([{'name': "示范保险"}, {'name': "王五"}])
    first, = Plate.search([('serial', '=', 'NC2026000001')])
    Plate.write([first], {'state': 'sold', 'insurer': insurer.id,
            'agent': agent.id})
    return company, other, users, insurer, agent


def csv_bytes(rows, encoding='utf-8-sig'):
    output = io.StringIO()
    writer = csv.DictWriter(output, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return output.getvalue().encode(encoding)


class CallRecordUnitTestCase(unittest.TestCase):
    "Test what the call records need no database for"

    def test_mask_raw(self):
        "A raw number kept is starred but its first 3 and last 4 digits"
        self.assertEqual(mask_raw('13812345678'), '138****5678')
        self.assertEqual(mask_raw('+86 138-1234-5678x'),
            '+86 1**-****-5678x')
        self.assertEqual(mask_raw('1234567'), '*******')
        self.assertEqual(mask_raw('abc'), 'abc')

    def test_translations(self):
        "Every menu, action, selection, message and code is in Chinese"
        root = os.path.dirname(os.path.dirname(__file__))
        po = polib.pofile(os.path.join(root, 'locale', 'zh_CN.po'))
        translated = {e.msgctxt for e in po if e.msgstr}
        with open(os.path.join(root, 'callrecord.xml')) as file:
            xml = file.read()
        expected = {'model:ir.action,name:' + i for i in re.findall(
                r'<record model="ir.action.(?:act_window|wizard)" '
                r'id="([^"]+)"', xml)}
        expected |= {'model:ir.ui.menu,name:' + i
            for i in re.findall(r'<menuitem [^>]*id="([^"]+)"', xml)}
        messages = re.findall(r'id="(msg_plate_[^"]+)"', xml)
        expected |= {'model:ir.message,text:' + i for i in messages}
        self.assertGreater(len(expected), 20)
        self.assertEqual(expected - translated, set())
        # every rejection code has its reason
        self.assertEqual({f'msg_plate_call_{c}' for c, _ in REJECTION_CODES}
            - set(messages), set())


class CallRecordTestCase(_DBTestCase):
    "Test the call records of the plates"
    module = 'dualrec_valueadd'

    @with_transaction()
    def test_push_twice_stored_once(self):
        "A record received twice is stored once; the second is a duplicate"
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        company, _, _, insurer, agent = produce_plates()
        summary = Call.receive([(1, record('c-1'))], 'push')
        self.assertEqual(summary, {'received': 1, 'created': 1,
                'duplicates': 0, 'rejected': 0})
        summary = Call.receive([(1, record('c-1'))], 'push')
        self.assertEqual(summary, {'received': 1, 'created': 0,
                'duplicates': 1, 'rejected': 0})
        call, = Call.search([])
        self.assertEqual((call.call_id, call.out_id, call.plate.serial),
            ('c-1', 'NC2026000001', 'NC2026000001'))
        self.assertEqual((call.company, call.insurer, call.agent),
            (company, insurer, agent))
        self.assertEqual(call.call_time, dt.datetime(2026, 12, 1, 2, 0, 0))
        self.assertEqual(call.answer_time, dt.datetime(2026, 12, 1, 2, 0, 8))
        self.assertEqual(call.release_time,
            dt.datetime(2026, 12, 1, 2, 1, 10))
        self.assertEqual((call.duration, call.connected), (62, True))
        self.assertEqual(call.cost, Decimal('0.30'))
        self.assertEqual((call.release_direction, call.release_cause,
                call.unconnected_cause, call.binding_id, call.source),
            ('callee', '16', 'normal', 'S-1', 'push'))
        self.assertIsNone(call.order)
        self.assertIsNone(call.payout_order)

    @with_transaction()
    def test_masked(self):
        "Numbers are stored masked, never in clear, even of a rejected one"
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        Rejected = pool.get('dualrec.plate.call.rejected')
        produce_plates()
        Call.receive([(1, record('c-1')),
                (2, record('c-2', call_time='yesterday'))], 'push')
        call, = Call.search([])
        self.assertEqual((call.caller, call.virtual, call.callee),
            ('189****7726', '170****1921', '138****5678'))
        cursor = Transaction().connection.cursor()
        for table in [Call._table, Rejected._table]:
            cursor.execute('SELECT * FROM "%s"' % table)
            text = repr(cursor.fetchall())
            self.assertNotIn('12345678', text)
            self.assertNotIn('12347726', text)
        rejected, = Rejected.search([])
        self.assertIn('138****5678', rejected.raw)

    @with_transaction()
    def test_import_after_push(self):
        "A file repeating pushed records, or itself, stores them once"
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        produce_plates()
        Call.receive([(1, record('c-1'))], 'push')
        data = csv_bytes([record('c-1'), record('c-2', 'NC2026000002'),
                record('c-2', 'NC2026000002'), record('c-3')])
        summary = Call.receive_file(data, filename='calls.csv')
        self.assertEqual(summary, {'received': 4, 'created': 2,
                'duplicates': 2, 'rejected': 0})
        # across chunks too
        summary = Call.receive(
            [(i, record(f'c-{i % 3 + 1}')) for i in range(7)], 'import',
            chunk_size=2)
        self.assertEqual(summary, {'received': 7, 'created': 0,
                'duplicates': 7, 'rejected': 0})
        calls = Call.search([], order=[('call_id', 'ASC')])
        self.assertEqual([(c.call_id, c.source) for c in calls],
            [('c-1', 'push'), ('c-2', 'import'), ('c-3', 'import')])
        self.assertEqual(calls[1].filename, 'calls.csv')

    @with_transaction()
    def test_chinese_gb18030_file(self):
        "An export with Chinese headers in GB18030 is read"
        Call = Pool().get('dualrec.plate.call')
        produce_plates()
        data = csv_bytes([{'通话ID': 'c-9', '业务ID': 'nc2026000003',
                    '主叫号码': '18912347726', '被叫号码': '13812345678',
                    '呼叫时间': '2026/12/01 23:59:50', '接通时间': '',
                    '释放时间': '2026/12/02 00:00:05', '通话时长': '0',
                    '费用': '0'}], encoding='gb18030')
        self.assertEqual(Call.receive_file(data)['created'], 1)
        call, = Call.search([])
        self.assertEqual((call.plate.serial, call.connected, call.cost),
            ('NC2026000003', False, Decimal('0.00')))

    @with_transaction()
    def test_xlsx_file(self):
        "An xlsx file is read from its first sheet"
        import xlsxwriter
        Call = Pool().get('dualrec.plate.call')
        produce_plates()
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {'in_memory': True})
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, ['call_id', 'out_id', 'call_time',
                'duration'])
        sheet.write_row(1, 0, ['x-1', 'NC2026000001', '2026-12-01 10:00:00',
                0])
        sheet.write_row(2, 0, ['x-2', 'NC2026000001', 'noon', 0])
        workbook.close()
        summary = Call.receive_file(output.getvalue(), 'calls.xlsx')
        self.assertEqual(summary, {'received': 2, 'created': 1,
                'duplicates': 0, 'rejected': 1})

    @with_transaction()
    def test_rejected_kept(self):
        "Malformed records and unknown plates are kept apart with a code"
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        Rejected = pool.get('dualrec.plate.call.rejected')
        company, *_ = produce_plates()
        summary = Call.receive([
                (1, record('r-1', call_time='2026-13-01 10:00')),
                (2, record('r-2', out_id='NC2026009999')),
                (3, record('r-3', out_id='')),
                (4, record('r-4', cost='-1')),
                (5, 'not a record'),
                (6, record('r-6')),
                (7, {'call_id': '', 'out_id': ''}),
                ], 'push')
        self.assertEqual(summary, {'received': 6, 'created': 1,
                'duplicates': 0, 'rejected': 5})
        rejected = {r.line: r for r in Rejected.search([])}
        self.assertEqual({n: (r.code, r.field) for n, r in rejected.items()},
            {1: ('bad_time', 'call_time'), 2: ('unknown_plate', 'out_id'),
                3: ('missing_field', 'out_id'), 4: ('bad_cost', 'cost'),
                5: ('bad_record', None)})
        self.assertEqual(rejected[2].out_id, 'NC2026009999')
        self.assertEqual(rejected[2].call_id, 'r-2')
        self.assertIsNone(rejected[2].company)  # a push knows no company
        self.assertEqual(rejected[1].company, company)  # its plate's
        self.assertEqual(rejected[2].reason, "The out ID is no plate of ours.")
        self.assertEqual(json.loads(rejected[1].raw)['call_time'],
            '2026-13-01 10:00')
        self.assertEqual({r.source for r in rejected.values()}, {'push'})
        # a rejected record is not stored as a call
        self.assertEqual([c.call_id for c in Call.search([])], ['r-6'])

    @with_transaction()
    def test_never_modified(self):
        "Call records and rejected ones are neither changed nor deleted"
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        Rejected = pool.get('dualrec.plate.call.rejected')
        produce_plates()
        Call.receive([(1, record('m-1')), (2, record('m-2', out_id='X'))],
            'push')
        call, = Call.search([])
        rejected, = Rejected.search([])
        for action in [lambda: Call.write([call], {'duration': 1}),
                lambda: Call.delete([call]),
                lambda: Call.copy([call]),
                lambda: Rejected.write([rejected], {'code': 'bad_time'}),
                lambda: Rejected.delete([rejected])]:
            with self.assertRaises(UserError):
                action()

    @with_transaction()
    def test_access(self):
        "Plate staff and finance read call records; others are refused"
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        Rejected = pool.get('dualrec.plate.call.rejected')
        company, other, users, *_ = produce_plates()
        Call.receive([(1, record('a-1')), (2, record('a-2', out_id='X'))],
            'push')
        for name in ['plate', 'finance']:
            with self.subTest(user=name), set_company(company), \
                    as_user(users[name]):
                calls = Call.search([])
                self.assertEqual(len(calls), 1)
                Call.read([c.id for c in calls], ['call_id', 'caller'])
                self.assertEqual(len(Rejected.search([])), 1)
                with self.assertRaises(AccessError):
                    Call.create([{'call_id': 'a-3', 'out_id': 'NC2026000001',
                                'plate': calls[0].plate.id,
                                'company': company.id,
                                'call_time': dt.datetime(2026, 12, 1),
                                'duration': 0, 'source': 'import',
                                'received_at': dt.datetime(2026, 12, 1)}])
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Call.search([])
            with self.assertRaises(AccessError):
                Rejected.search([])
        # another company's plate staff see none of these calls
        with set_company(other), as_user(users['other']):
            self.assertEqual(Call.search([]), [])

    @with_transaction()
    def test_import_wizard(self):
        "Plate staff import a file through the wizard and see the summary"
        pool = Pool()
        Wizard = pool.get('dualrec.plate.call.import', type='wizard')
        Rejected = pool.get('dualrec.plate.call.rejected')
        company, other, users, *_ = produce_plates()
        data = csv_bytes([record('w-1'), record('w-2', out_id='NOPE'),
                record('w-1')])
        with set_company(company), as_user(users['plate']):
            session_id, _, _ = Wizard.create()
            wizard = Wizard(session_id)
            wizard.start.file = data
            wizard.start.filename = 'calls.csv'
            self.assertEqual(wizard.transition_import_(), 'done')
            self.assertEqual(wizard.default_done(None), {
                    'filename': 'calls.csv', 'received': 3, 'created': 1,
                    'duplicates': 1, 'rejected': 1})
            rejected, = Rejected.search([])
            # an import's unknown plate belongs to the importer's company
            self.assertEqual(rejected.company, company)
            self.assertEqual(rejected.filename, 'calls.csv')
        # the plate staff of another company cannot import calls of
        # this company's plates: they are unknown to them
        with set_company(other), as_user(users['other']):
            session_id, _, _ = Wizard.create()
            wizard = Wizard(session_id)
            wizard.start.file = csv_bytes([record('w-3')])
            wizard.start.filename = 'other.csv'
            wizard.transition_import_()
            self.assertEqual(wizard.default_done(None)['rejected'], 1)
        rejected, = Rejected.search([('call_id', '=', 'w-3')])
        self.assertEqual((rejected.code, rejected.company),
            ('unknown_plate', other))
        self.assertEqual(Pool().get('dualrec.plate.call').search(
                [('call_id', '=', 'w-3')]), [])

    @with_transaction()
    def test_fields_translated(self):
        "Every field of the call records and their wizard is in Chinese"
        pool = Pool()
        po = polib.pofile(os.path.join(os.path.dirname(
                    os.path.dirname(__file__)), 'locale', 'zh_CN.po'))
        translated = {e.msgctxt for e in po if e.msgstr}
        # the fields every model of Tryton has (those of ir.model too)
        base = set(pool.get('ir.model')._fields)
        missing = set()
        for name in ['dualrec.plate.call', 'dualrec.plate.call.rejected',
                'dualrec.plate.call.import.start',
                'dualrec.plate.call.import.done']:
            Model = pool.get(name)
            expected = {f'model:{name},string:'}
            for field in set(Model._fields) - base:
                expected.add(f'field:{name},{field}:')
                if Model._fields[field].help:
                    expected.add(f'help:{name},{field}:')
            missing |= expected - translated
        self.assertEqual(missing, set())

    @with_transaction()
    def test_import_wizard_access(self):
        "Only plate staff run the import wizard"
        Wizard = Pool().get('dualrec.plate.call.import', type='wizard')
        company, _, users, *_ = produce_plates()
        with set_company(company), as_user(users['plate']):
            Wizard.check_access()
        for name in ['finance', 'sales']:
            with self.subTest(user=name), set_company(company), \
                    as_user(users[name]), self.assertRaises(AccessError):
                Wizard.check_access()

    @with_transaction()
    def test_bad_file(self):
        "A file that is no spreadsheet is refused with a clear error"
        Call = Pool().get('dualrec.plate.call')
        produce_plates()
        with self.assertRaises(UserError):
            Call.receive_file(b'PK\x03\x04broken zip', 'calls.xlsx')


class CallPushTestCase(RouteTestCase):
    "Test the provider's push of call records"
    module = 'dualrec_valueadd'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # as with_transaction does: retry with the tables the set-up locks
        extras = {}
        while True:
            try:
                with Transaction().start(DB_NAME, 1, **extras):
                    cls.set_up_push()
                break
            except TransactionError as error:
                error.fix(extras)

    @classmethod
    def set_up_push(cls):
        Configuration = Pool().get('dualrec.valueadd.configuration')
        produce_plates()
        config = Configuration(1)
        config.call_push_secret = SECRET
        config.save()

    def push(self, body, secret=SECRET, timestamp=None, headers=None):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode('utf-8')
        timestamp = str(int(time.time()) if timestamp is None
            else timestamp)
        all_headers = {
            'Content-Type': 'application/json',
            'Accept-Language': 'en',
            'X-Dualrec-Timestamp': timestamp,
            'X-Dualrec-Signature': sign_push(secret, timestamp, body),
            }
        all_headers.update(headers or {})
        response = self.client().post(URL, data=body, headers=all_headers)
        return response.status_code, response.get_json()

    def stored(self, *call_ids):
        with Transaction().start(DB_NAME, 0, readonly=True):
            pool = Pool()
            Call = pool.get('dualrec.plate.call')
            Rejected = pool.get('dualrec.plate.call.rejected')
            return (len(Call.search([('call_id', 'in', call_ids)])),
                len(Rejected.search([('call_id', 'in', call_ids)])))

    def test_push_idempotent(self):
        "A record pushed twice is stored once; a list is accepted"
        status, data = self.push(record('p-1'))
        self.assertEqual((status, data), (200, {'received': 1,
                    'created': 1, 'duplicates': 0, 'rejected': 0}))
        status, data = self.push([record('p-1'), record('p-2'),
                record('p-3', out_id='NC2026009999')])
        self.assertEqual((status, data), (200, {'received': 3,
                    'created': 1, 'duplicates': 1, 'rejected': 1}))
        self.assertEqual(self.stored('p-1', 'p-2', 'p-3'), (2, 1))

    def test_bad_signature_refused(self):
        "A push not signed with the secret, or too old, stores nothing"
        for kwargs, code in [
                ({'secret': 'guessed'}, 'push_bad_signature'),
                ({'timestamp': int(time.time()) - 301}, 'push_expired'),
                ({'timestamp': int(time.time()) + 301}, 'push_expired'),
                ({'headers': {'X-Dualrec-Signature': ''}}, 'push_unsigned'),
                ]:
            with self.subTest(code=code):
                status, data = self.push(record('s-1'), **kwargs)
                self.assertEqual(status, 401)
                self.assertEqual(data['code'], code)
                self.assertTrue(data['message'])
        self.assertEqual(self.stored('s-1'), (0, 0))

    def test_bad_json_refused(self):
        "A signed body that is no JSON record gets a coded 400"
        for body, code in [(b'{"call_id": ', 'push_bad_json'),
                (b'"text"', 'push_bad_json'), (b'[]', 'push_bad_json'),
                (json.dumps([record('j-1')] * 5001).encode(),
                    'push_too_many')]:
            with self.subTest(body=body[:20]):
                status, data = self.push(body)
                self.assertEqual((status, data['code']), (400, code))
        self.assertEqual(self.stored('j-1'), (0, 0))

    @unittest.skipUnless(POSTGRESQL, "concurrent writers need PostgreSQL")
    def test_concurrent_imports(self):
        "Two imports of the same records at once store each record once"
        records = [record(f'k-{i:03d}') for i in range(300)]
        barrier = threading.Barrier(2)
        results, errors = [], []

        def run():
            # the second waits for the first's rows, then fails to
            # serialize (repeatable read) and is retried, as trytond
            # retries a request: its retry finds them all stored
            try:
                for attempt in range(5):
                    try:
                        with Transaction().start(DB_NAME, 0) as transaction:
                            Call = Pool(DB_NAME).get('dualrec.plate.call')
                            if not attempt:
                                barrier.wait()
                            summary = Call.receive(enumerate(records, 1),
                                'import', chunk_size=50)
                            transaction.commit()
                        results.append(summary)
                        break
                    except backend.DatabaseOperationalError:
                        continue
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 2)
        self.assertEqual(sum(r['created'] for r in results), 300)
        self.assertEqual(sum(r['duplicates'] for r in results), 300)
        self.assertEqual(self.stored(*(r['call_id'] for r in records)),
            (300, 0))

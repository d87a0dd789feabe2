# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import os
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.exceptions import (
    RecordingError, SystemFieldError, TicketError)
from dualrec.crypto import envelope
from trytond.modules.dualrec_core.hold import set_contract_end
from trytond.modules.dualrec_core.ticket import PII_SEARCH_LIMITS
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .tools import (
    as_user, create_branches, create_product, create_user,
    valid_resident_id)


class TicketTestCase(_DBTestCase):
    "Test sales tickets and recordings"
    module = 'dualrec_core'

    def _setup(self):
        company = create_company()
        branches = create_branches(company)
        users = {
            'sales': create_user('sales', company, 'group_dualrec_sales',
                branches['P1-C1-O1'], 'S1'),
            'sales_b': create_user('sales_b', company, 'group_dualrec_sales',
                branches['P1-C1-O2'], 'S2'),
            'reviewer': create_user('reviewer', company,
                'group_dualrec_reviewer', branches['P1-C1'], 'R1'),
            'reviewer_p2': create_user('reviewer_p2', company,
                'group_dualrec_reviewer', branches['P2'], 'R2'),
            }
        product = create_product(company)
        return company, branches, users, product

    def _ticket(self, user, product, **values):
        Ticket = Pool().get('dualrec.ticket')
        with as_user(user):
            ticket, = Ticket.create([{
                        'task_number': 'T-1', 'product': product.id,
                        'policyholder_name': "张三",
                        'id_type': 'resident_id',
                        'id_number': valid_resident_id(),
                        'phone': '138 1234 5678',
                        **values}])
        return Ticket(ticket.id)

    def _recording(self, ticket, status='ready'):
        Recording = Pool().get('dualrec.recording')
        recording, = Recording.create([{
                    'ticket': ticket.id, 'status': status}])
        return recording

    @with_transaction()
    def test_ticket_defaults(self):
        "A new ticket takes its number, branch and employee number"
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
        self.assertRegex(ticket.number, r'^SR\d{6}\d{6}$')
        self.assertEqual(ticket.branch, branches['P1-C1-O1'])
        self.assertEqual(ticket.salesperson, users['sales'])
        self.assertEqual(ticket.employee_number, 'S1')
        self.assertEqual(ticket.state, 'draft')
        # born 1949-12-31: the age comes from the ID number
        self.assertEqual(ticket.applicant_age,
            dt.date.today().year - 1950 + (
                1 if dt.date.today() >= dt.date(dt.date.today().year, 12, 31)
                else 0))

    @with_transaction()
    def test_personal_data_encrypted_and_masked(self):
        "ID and phone numbers are stored encrypted and shown masked"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        number = valid_resident_id()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
        self.assertEqual(ticket.id_number,
            number[:3] + '*' * 11 + number[-4:])
        self.assertEqual(ticket.phone, '138****5678')
        table = Ticket.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id_number_encrypted,
                table.phone_encrypted, table.id_number_index,
                where=table.id == ticket.id))
        row = cursor.fetchone()
        for value in row:
            self.assertNotIn(number, value)
            self.assertNotIn('13812345678', value)
        self.assertTrue(row[0].startswith('v1.'))

    @with_transaction()
    def test_personal_data_search_exact(self):
        "Personal data is found by its exact value only"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            other = self._ticket(users['sales'], product,
                id_number=valid_resident_id(sequence='003'),
                phone='13900000000')
            self.assertEqual(Ticket.search(
                    [('id_number', '=', valid_resident_id().lower())]),
                [ticket])
            self.assertEqual(
                Ticket.search([('phone', '=', '+86 139-0000-0000')]),
                [other])
            self.assertEqual(
                Ticket.search([('phone', '=', '13800000000')]), [])
            with self.assertRaises(TicketError):
                Ticket.search([('id_number', 'ilike', '1101%')])

    @with_transaction()
    def test_invalid_personal_data_refused(self):
        "A wrong ID or phone number is refused and nothing is created"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        good = valid_resident_id()
        bad_check = good[:-1] + ('0' if good[-1] != '0' else '1')
        with set_company(company):
            for values in [
                    {'id_number': bad_check},
                    {'id_number': '110105194902300021'},
                    {'id_number': good[:15]},
                    {'id_type': 'passport', 'id_number': 'ABC'},
                    {'phone': '12345'},
                    ]:
                with self.subTest(values=values):
                    with self.assertRaises(TicketError):
                        self._ticket(users['sales'], product, **values)
            self.assertEqual(Ticket.search([]), [])

    @with_transaction()
    def test_unmask_is_restricted_and_audited(self):
        "Only the unmask right shows personal data, and it is logged"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        AuditLog = pool.get('dualrec.audit.log')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['sales']), self.assertRaises(AccessError):
                Ticket.unmask([Ticket(ticket.id)])
            User.write([users['reviewer']], {'groups': [('add', [
                                ModelData.get_id('dualrec_core',
                                    'group_dualrec_unmask')])]})
            with as_user(users['reviewer']):
                plain = Ticket.unmask([Ticket(ticket.id)])
            self.assertEqual(plain[ticket.id], {
                    'id_number': valid_resident_id(),
                    'phone': '13812345678'})
            entry, = AuditLog.search([('action', '=', 'unmask')])
            self.assertEqual(entry.user, users['reviewer'])
            self.assertEqual(entry.record_id, ticket.id)
            self.assertEqual(entry.field_names, 'id_number,phone')

    @with_transaction()
    def test_ticket_rules(self):
        "Salespeople see their tickets, reviewers those of their branches"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            mine = self._ticket(users['sales'], product)
            theirs = self._ticket(users['sales_b'], product)
            with as_user(users['sales']):
                self.assertEqual(Ticket.search([]), [mine])
                with self.assertRaises(AccessError):
                    Ticket.read([theirs.id], ['number'])
                with self.assertRaises(AccessError):
                    Ticket.write([Ticket(theirs.id)], {'task_number': 'X'})
            with as_user(users['reviewer']):
                self.assertEqual(set(Ticket.search([])), {mine, theirs})
                with self.assertRaises(AccessError):
                    Ticket.write([Ticket(mine.id)], {'task_number': 'X'})
            with as_user(users['reviewer_p2']):
                self.assertEqual(Ticket.search([]), [])

    @with_transaction()
    def test_ticket_workflow(self):
        "Submit needs a ready recording; a rejected ticket is re-recorded"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            first = self._recording(ticket, status='processing')
            Ticket.record([ticket])
            self.assertEqual(ticket.state, 'recorded')
            with as_user(users['sales']), self.assertRaises(UserError):
                Ticket.submit([Ticket(ticket.id)])
            with self.assertRaises(TicketError):
                Ticket.submit([ticket])
            first.status = 'ready'
            first.save()
            with as_user(users['sales']):
                Ticket.submit([Ticket(ticket.id)])
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.state, 'pending')
            Ticket.reject([ticket], "The customer is out of frame")
            self.assertEqual(ticket.state, 'rejected')
            second = self._recording(ticket)
            Ticket.record([ticket])
            Ticket.submit([ticket])
            Ticket.approve([ticket])
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.state, 'approved')
            self.assertEqual([r.version for r in ticket.recordings], [2, 1])
            self.assertEqual(ticket.recording, second)

    @with_transaction()
    def test_recordings_cannot_be_deleted(self):
        "A recording is evidence: nobody deletes it, nor its draft ticket"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Recording = pool.get('dualrec.recording')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            recording = self._recording(ticket)
            with self.assertRaises(RecordingError):
                Recording.delete([recording])
            with as_user(users['sales']):
                with self.assertRaises(AccessError):
                    Recording.write([Recording(recording.id)],
                        {'status': 'failed'})
                with self.assertRaises(AccessError):
                    Recording.create([{'ticket': ticket.id}])
            with as_user(users['sales_b']), self.assertRaises(AccessError):
                Recording.read([recording.id], ['status'])
            with self.assertRaises(TicketError):
                Ticket.delete([ticket])
            draft = self._ticket(users['sales'], product)
            with as_user(users['sales']):
                Ticket.delete([Ticket(draft.id)])

    @with_transaction()
    def test_recording_required(self):
        "Long-term life sold outside banks is mandatory from age 60"
        company, branches, users, product = self._setup()
        agency = create_product(company, 'AG', channel='agency',
            script_nodes=0)
        with set_company(company):
            young = self._ticket(users['sales'], agency, applicant_age=40)
            old = self._ticket(users['sales'], agency, applicant_age=60)
            bank = self._ticket(users['sales'], product, applicant_age=30)
        self.assertFalse(young.recording_required)
        self.assertTrue(old.recording_required)
        self.assertTrue(bank.recording_required)


    @with_transaction()
    def test_retention_from_contract_and_holds(self):
        "The retention runs from the contract end; a hold keeps it longer"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Hold = pool.get('dualrec.legal.hold')
        company, branches, users, product = self._setup()
        manager = create_user('manager', company, 'group_dualrec_manager',
            branches['P1'], 'M1')
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            self.assertIsNone(ticket.retention_end)
            # the salesperson may not set what decides the retention
            with as_user(users['sales']), self.assertRaises(AccessError):
                Ticket.write([Ticket(ticket.id)],
                    {'contract_end': dt.date(2030, 6, 30)})
            with as_user(users['sales']), self.assertRaises(AccessError):
                set_contract_end([ticket], dt.date(2030, 6, 30))
            with as_user(manager):
                set_contract_end([Ticket(ticket.id)], dt.date(2030, 6, 30))
            # a product of more than one year: 10 years
            self.assertEqual(
                Ticket(ticket.id).retention_end, dt.date(2040, 6, 30))

            with as_user(manager):
                hold, = Hold.create([{'ticket': ticket.id,
                            'reason': 'litigation',
                            'placed_on': dt.date(2039, 1, 1)}])
            self.assertIsNone(Ticket(ticket.id).retention_end)
            with as_user(manager):
                Hold.write([Hold(hold.id)],
                    {'released_on': dt.date(2039, 12, 31)})
            self.assertEqual(
                Ticket(ticket.id).retention_end, dt.date(2041, 12, 31))

            # a hold is released, never removed; nor is its ticket
            with self.assertRaises(UserError):
                Hold.delete([Hold(hold.id)])
            with self.assertRaises(TicketError):
                Ticket.delete([Ticket(ticket.id)])
            with as_user(users['sales']), self.assertRaises(AccessError):
                Hold.create([{'ticket': ticket.id, 'reason': 'complaint'}])
            with as_user(users['sales_b']), self.assertRaises(AccessError):
                Hold.read([hold.id], ['reason'])

    @with_transaction()
    def test_expired_recordings_listed(self):
        "Recordings past their retention are flagged for disposal, once"
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        AuditLog = pool.get('dualrec.audit.log')
        company, branches, users, product = self._setup()
        with set_company(company):
            old = self._ticket(users['sales'], product)
            recent = self._ticket(users['sales'], product)
            old_recording = self._recording(old)
            recent_recording = self._recording(recent)
            set_contract_end([old], dt.date(2000, 1, 31))
            set_contract_end([recent], dt.date.today())
            self.assertEqual(
                Recording.list_expired(), [Recording(old_recording.id)])
            self.assertTrue(Recording(old_recording.id).retention_over)
            self.assertFalse(Recording(recent_recording.id).retention_over)
            self.assertEqual(Recording.list_expired(), [])
            self.assertEqual(AuditLog.search_count([
                        ('action', '=', 'retention_over'),
                        ('record_id', '=', old_recording.id),
                        ]), 1)

    @with_transaction()
    def test_dispose_after_retention_only(self):
        "Only an administrator disposes, and only past the retention end"
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        Hold = pool.get('dualrec.legal.hold')
        AuditLog = pool.get('dualrec.audit.log')
        Notification = pool.get('res.notification')
        company, branches, users, product = self._setup()
        admin = create_user('dradmin', company, 'group_dualrec_admin',
            branches['P1'], 'A1')
        manager = create_user('drmanager', company, 'group_dualrec_manager',
            branches['P1'], 'M1')
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            recording = self._recording(ticket)
            Recording.write([recording], {
                    'compressed_path': 'recordings/x/v1.mp4.dre',
                    'compressed_sha256': 'ab' * 32})

            # the contract end is unknown: the retention is open-ended and
            # the button is not offered
            with as_user(admin), self.assertRaises(AccessButtonError):
                Recording.dispose([Recording(recording.id)])
            set_contract_end([ticket], dt.date(2000, 1, 31))
            self.assertEqual(Recording.list_expired(), [recording])
            # the administrators hear of it
            admin_notes = Notification.search([('user', '=', admin.id)])
            self.assertEqual(len(admin_notes), 1)
            self.assertEqual(
                admin_notes[0].records, f'[{recording.id}]')
            # a legal hold placed since the listing: kept, checked again
            hold, = Hold.create([{'ticket': ticket.id,
                        'reason': 'complaint',
                        'placed_on': dt.date(2001, 1, 1)}])
            with as_user(admin), self.assertRaises(RecordingError):
                Recording.dispose([Recording(recording.id)])
            Hold.write([hold], {'released_on': dt.date(2002, 1, 1)})
            self.assertEqual(
                Recording(recording.id).ticket.retention_end,
                dt.date(2010, 1, 31))

            # nobody else may dispose, nor may anybody delete
            for user in [users['sales'], users['reviewer'], manager]:
                with as_user(user), self.assertRaises(AccessButtonError):
                    Recording.dispose([Recording(recording.id)])
            for user in [users['sales'], admin]:
                with as_user(user), self.assertRaises(
                        (AccessError, RecordingError)):
                    Recording.delete([Recording(recording.id)])

            removed = []
            with patch('trytond.modules.dualrec_core.recording.pipeline'
                    '.remove', side_effect=lambda root, *paths:
                    removed.extend(paths)):
                with as_user(admin):
                    Recording.dispose([Recording(recording.id)])
                disposed = Recording(recording.id)
                self.assertEqual(disposed.status, 'disposed')
                self.assertIsNone(disposed.compressed_path)
                self.assertEqual(disposed.disposed_by, admin)
                self.assertIsNotNone(disposed.disposed_at)
                # the hashes stay as the proof of what was kept
                self.assertEqual(disposed.compressed_sha256, 'ab' * 32)
                log, = AuditLog.search([
                        ('action', '=', 'dispose'),
                        ('record_id', '=', recording.id)])
                self.assertEqual(log.user, admin)
                self.assertIn('recordings/x/v1.mp4.dre', log.details)
                # the files go only when the disposal is committed
                self.assertEqual(removed, [])
                for datamanager in Transaction()._datamanagers:
                    if hasattr(datamanager, 'relatives'):
                        datamanager.tpc_finish(Transaction())
                self.assertEqual(removed, ['recordings/x/v1.mp4.dre'])
            # a second disposal is not offered, and does nothing anyway
            with as_user(admin), self.assertRaises(AccessButtonError):
                Recording.dispose([Recording(recording.id)])
            Recording.dispose([Recording(recording.id)])
            self.assertEqual(AuditLog.search_count([
                        ('action', '=', 'dispose')]), 1)

    @with_transaction()
    def test_rotate_master_key(self):
        "Rotation re-wraps the stored files to the new master key"
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        Configuration = pool.get('dualrec.configuration')
        old_key, new_key = 'aa' * 32, 'bb' * 32
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            recording = self._recording(ticket)
            root = Configuration(1).get_storage_root()
            relative = f'recordings/test-rotate/{recording.id}.mp4.enc'
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            plain = root / f'plain-{recording.id}'
            plain.write_bytes(b'\x00' * 3000 + b'media')
            self.addCleanup(plain.unlink)
            self.addCleanup((root / relative).unlink)
            envelope.encrypt_file(envelope.Keyring.from_string(
                    f'kold:{old_key}'), plain, root / relative)
            Recording.write([recording], {
                    'compressed_path': relative, 'key_id': 'kold'})
            with patch.dict(os.environ, {
                        'DUALREC_MEDIA_KEYS': f'knew:{new_key},kold:{old_key}'}):
                self.assertIn(recording, Recording.to_rotate())
                Recording.rotate(Recording.to_rotate())
                self.assertEqual(Recording.to_rotate(), [])
            self.assertEqual(Recording(recording.id).key_id, 'knew')
            self.assertEqual(envelope.key_id_of(root / relative), 'knew')
            only_new = envelope.Keyring.from_string(f'knew:{new_key}')
            with envelope.DecryptedReader(only_new, root / relative) as reader:
                self.assertEqual(reader.read(), plain.read_bytes())

    @with_transaction()
    def test_system_fields_refused(self):
        "Nobody writes or creates the fields the system sets"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            for values in [{'state': 'approved'}, {'number': 'X-1'},
                    {'retention_end': dt.date(2020, 1, 1)},
                    {'review_comment': "OK"},
                    {'salesperson': users['sales_b'].id},
                    {'id_number_encrypted': 'x'}]:
                with self.subTest(values=values), as_user(users['sales']):
                    with self.assertRaises(SystemFieldError):
                        Ticket.write([Ticket(ticket.id)], values)
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.state, 'draft')
            self.assertIsNone(ticket.retention_end)
            self.assertTrue(ticket.number)
            with as_user(users['sales']):
                with self.assertRaises(SystemFieldError):
                    self._ticket(users['sales'], product, state='approved')
                # the defaults the clients send back pass
                self._ticket(users['sales'], product, state='draft',
                    salesperson=users['sales'].id)
            # the code that owns them writes them
            Ticket.write([ticket], {'review_comment': "OK"})

    @with_transaction()
    def test_recorded_ticket_frozen(self):
        "What was recorded cannot change, not even by the system"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        other = create_product(company, code='OTHER')
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['sales']):
                Ticket.write([Ticket(ticket.id)], {'task_number': 'T-2'})
            self._recording(ticket)
            Ticket.record([ticket])
            for values in [{'policyholder_name': "李四"},
                    {'id_number': valid_resident_id(sequence='003')},
                    {'product': other.id}, {'task_number': 'T-3'},
                    {'branch': branches['P1-C1-O2'].id},
                    {'employee_number': 'X'}]:
                with self.subTest(values=values):
                    with as_user(users['sales']), \
                            self.assertRaises(SystemFieldError):
                        Ticket.write([Ticket(ticket.id)], values)
                    with self.assertRaises(SystemFieldError):
                        Ticket.write([Ticket(ticket.id)], values)
            ticket = Ticket(ticket.id)
            self.assertEqual(
                (ticket.task_number, ticket.policyholder_name,
                    ticket.product),
                ('T-2', "张三", product))
            with as_user(users['sales']):
                Ticket.write([Ticket(ticket.id)], {'phone': '13900000000'})
            Ticket.submit([ticket])
            with as_user(users['sales']), \
                    self.assertRaises(SystemFieldError):
                Ticket.write([Ticket(ticket.id)], {'applicant_age': 40})

    @with_transaction()
    def test_salesperson_branch_scope(self):
        "A salesperson creates and moves tickets in his branch only"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['sales']):
                with self.assertRaises(AccessError):
                    self._ticket(users['sales'], product,
                        branch=branches['P1-C1-O2'].id)
                with self.assertRaises(AccessError):
                    Ticket.write([Ticket(ticket.id)],
                        {'branch': branches['P1-C1-O2'].id})
            # (the refused call's transaction is rolled back: see
            # tests/test_probe.py for nothing changed over RPC)

    @with_transaction()
    def test_pii_search_restricted(self):
        "Without the unmask right PII is searched by full value, a few times"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        AuditLog = pool.get('dualrec.audit.log')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['reviewer']):
                with self.assertRaises(TicketError):
                    Ticket.search([('id_number', '=', '110***********002X')])
                with self.assertRaises(TicketError):
                    Ticket.search([('id_number', '!=', valid_resident_id())])
                limit = PII_SEARCH_LIMITS[0][1]
                for _ in range(limit):
                    self.assertEqual(Ticket.search(
                            [('id_number', '=', valid_resident_id())]),
                        [ticket])
                with self.assertRaises(TicketError):
                    Ticket.search([('phone', '=', '13812345678')])
            entries = AuditLog.search([('action', '=', 'pii_search')])
            self.assertEqual(len(entries), limit)
            self.assertEqual({e.user for e in entries}, {users['reviewer']})
            # internal searches are neither limited nor logged
            self.assertEqual(
                Ticket.search([('phone', '=', '13812345678')]), [ticket])

    @with_transaction()
    def test_unmask_checks_record_rules(self):
        "The unmask right does not show a ticket the user cannot read"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            User.write([users['reviewer_p2']], {'groups': [('add', [
                                ModelData.get_id('dualrec_core',
                                    'group_dualrec_unmask')])]})
            with as_user(users['reviewer_p2']), \
                    self.assertRaises(AccessError):
                Ticket.unmask([Ticket(ticket.id)])

    @with_transaction()
    def test_correction_by_administrator(self):
        "An administrator corrects a completed ticket: audited, reviewed again"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        AuditLog = pool.get('dualrec.audit.log')
        company, branches, users, product = self._setup()
        admin = create_user('sysadmin', company, 'group_dualrec_admin',
            None, 'A1')
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            self._recording(ticket)
            Ticket.record([ticket])
            Ticket.submit([ticket])
            Ticket.approve([ticket])
            values = {'policyholder_name': "李四",
                'id_number': valid_resident_id(sequence='003')}
            with as_user(users['sales']), self.assertRaises(AccessError):
                Ticket.correct([Ticket(ticket.id)], values, "Typo")
            with as_user(admin):
                Ticket.correct([Ticket(ticket.id)], values, "Typo")
                with self.assertRaises(TicketError):
                    Ticket.correct([Ticket(ticket.id)], values, "Again")
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.policyholder_name, "李四")
            self.assertEqual(ticket._pii_plain('id_number'),
                valid_resident_id(sequence='003'))
            self.assertEqual(ticket.state, 'pending')
            entry, = AuditLog.search([('action', '=', 'correct')])
            self.assertEqual(entry.user, admin)
            self.assertEqual(entry.field_names, 'id_number,policyholder_name')
            self.assertIn('"reason": "Typo"', entry.details)
            self.assertNotIn(valid_resident_id(sequence='003'),
                entry.details)


del _DBTestCase

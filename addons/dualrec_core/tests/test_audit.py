# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The audit log: sealing, checkpoints, forgery, malformed rows, the
administrative changes it keeps and the logins it must never break."""
import threading
import time
import unittest

from trytond import backend
from trytond.exceptions import RateLimitException
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.exceptions import AuditError
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, ModuleTestCase, USER, activate_module, with_transaction)
from trytond.transaction import Transaction

from dualrec.crypto import checkpoint as signed
from .tools import as_user, create_branches, create_user


def _no_login_delays():
    "Drop the growing sleeps trytond queues after each failed login."
    transaction = Transaction()
    transaction._atexit = [(f, a, k) for f, a, k in transaction._atexit
        if f is not time.sleep]


def _forge(record_id, column, value):
    "Change one column of an audit row as a database administrator would."
    AuditLog = Pool().get('dualrec.audit.log')
    table = AuditLog.__table__()
    Transaction().connection.cursor().execute(*table.update(
            [getattr(table, column)], [value], where=table.id == record_id))


class AuditTestCase(ModuleTestCase):
    "Test the audit log of Dual Recording Core"
    module = 'dualrec_core'

    @with_transaction()
    def test_seal_order_and_checkpoint(self):
        "Sealing chains the entries in order and signs a checkpoint"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        Checkpoint = pool.get('dualrec.audit.checkpoint')
        AuditLog.seal()
        first = AuditLog.log('login', login='a')[0]
        second = AuditLog.log('login', login='b')[0]
        self.assertEqual((first.sealed, first.hash, first.seq),
            (False, None, None))
        self.assertEqual(AuditLog.seal(), 2)
        first, second = AuditLog.browse([first.id, second.id])
        self.assertEqual(second.seq, first.seq + 1)
        self.assertEqual(second.previous_hash, first.hash)
        self.assertTrue(first.sealed and second.sealed)
        last = Checkpoint.exported()[-1]
        self.assertEqual((last['count'], last['head']),
            (second.seq, second.hash))
        signed.check(last, Checkpoint.public_key())
        self.assertEqual(AuditLog.seal(), 0)

    @with_transaction()
    def test_late_lower_id_chained_after(self):
        "An entry with a lower id sealed late goes after the sealed ones"
        AuditLog = Pool().get('dualrec.audit.log')
        AuditLog.seal()
        early, late = AuditLog.log('login', login='early') + AuditLog.log(
            'login', login='late')
        # early's transaction has not committed when late is sealed: the
        # sealer does not see it
        table = AuditLog.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.sealed], [True],
                where=table.id == early.id))
        self.assertEqual(AuditLog.seal(), 1)
        cursor.execute(*table.update([table.sealed], [False],
                where=table.id == early.id))
        self.assertEqual(AuditLog.seal(), 1)
        early, late = AuditLog.browse([early.id, late.id])
        self.assertGreater(early.seq, late.seq)
        self.assertEqual(early.previous_hash, late.hash)
        count, broken = AuditLog.verify()
        self.assertIsNone(broken)

    @with_transaction()
    def test_verify_names_first_broken(self):
        "Verify seals first and names the first entry changed in the table"
        AuditLog = Pool().get('dualrec.audit.log')
        entries = [AuditLog.log('login', login=f'u{i}')[0] for i in range(4)]
        count, broken = AuditLog.verify()
        self.assertIsNone(broken)
        _forge(entries[2].id, 'login', 'forged')
        _forge(entries[3].id, 'login', 'forged too')
        count, broken = AuditLog.verify()
        self.assertEqual(broken, entries[2])

    @with_transaction()
    def test_recomputed_forgery_caught(self):
        "A forged entry whose hashes are all recomputed fails a checkpoint"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        from dualrec import audit as hashchain
        entries = [AuditLog.log('login', login=f'u{i}')[0] for i in range(3)]
        AuditLog.seal()
        entries = AuditLog.browse([e.id for e in entries])
        # the administrator of the database rewrites the second entry and
        # every hash after it, so that the chain holds link by link
        _forge(entries[1].id, 'login', 'forged')
        previous = entries[1].previous_hash
        for entry in AuditLog.browse([e.id for e in entries[1:]]):
            values = AuditLog._chained_values(entry)
            if entry.id == entries[1].id:
                values['login'] = 'forged'
            new = hashchain.digest(previous, values)
            _forge(entry.id, 'previous_hash', previous)
            _forge(entry.id, 'hash', new)
            previous = new
        report = AuditLog.verify_report()
        self.assertFalse(report['intact'])
        self.assertIn('checkpoint_mismatch',
            {b['code'] for b in report['bad_checkpoints']})
        # and offline, from the export
        export = AuditLog.export()
        offline = signed.check_export(export,
            signed.load_public_key(export['public_key']))
        self.assertFalse(offline['intact'])
        without = signed.check_export({**export, 'checkpoints': []},
            signed.load_public_key(export['public_key']))
        self.assertTrue(without['intact'])

    @with_transaction()
    def test_malformed_row_reported_login_works(self):
        "A malformed row is reported by verify and never breaks a login"
        pool = Pool()
        User = pool.get('res.user')
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            user = create_user('clerk', company)
            User.write([user], {'password': 'secret-pass-1'})
        AuditLog.seal()
        victim, = AuditLog.log('login', login='x')
        AuditLog.seal()
        # the last sealed row, its hashes garbage (the old writers read
        # it to chain the next entry) and, where the column takes it
        # (SQLite), a date that is none
        sqlite = backend.name == 'sqlite'
        _forge(victim.id, 'hash', None)
        _forge(victim.id, 'previous_hash', '坏')
        _forge(victim.id, 'date', 'not a date' if sqlite else None)
        self.assertEqual(
            User.get_login('clerk', {'password': 'secret-pass-1'}), user.id)
        self.assertIsNone(User.get_login('clerk', {'password': 'wrong-1'}))
        _no_login_delays()
        report = AuditLog.verify_report()
        if sqlite:
            self.assertIn(victim.id, report['malformed'])
        self.assertEqual(report['broken'], victim.id)
        count, broken = AuditLog.verify()
        self.assertEqual(broken.id, victim.id)
        if not sqlite:
            # the list still shows it (a date that is none only SQLite
            # stores, and cannot hand back)
            self.assertTrue(
                AuditLog.read([victim.id], ['rec_name', 'user_name']))
        if sqlite:
            # an unsealed malformed row is sealed around, not raised
            second, = AuditLog.log('login', login='y')
            _forge(second.id, 'date', 'garbage')
            AuditLog.seal()
            self.assertIn(second.id, AuditLog.verify_report()['malformed'])

    @with_transaction()
    def test_access_changes_audited(self):
        "Changes to access rights, rules and groups are audited"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        Access = pool.get('ir.model.access')
        FieldAccess = pool.get('ir.model.field.access')
        RuleGroup = pool.get('ir.rule.group')
        Group = pool.get('res.group')
        group, = Group.create([{'name': "Auditors"}])
        access, = Access.create([{'model': 'dualrec.branch',
                    'group': group.id, 'perm_read': True}])
        Access.write([access], {'perm_write': True})
        FieldAccess.create([{'model': 'dualrec.branch', 'field': 'name',
                    'group': group.id, 'perm_read': True}])
        rule_group, = RuleGroup.create([{'name': "R", 'model': 'dualrec.branch',
                    'groups': [('add', [group.id])]}])
        Access.delete([access])
        seen = {(e.model, e.action) for e in AuditLog.search([])}
        for expected in [('res.group', 'create'),
                ('ir.model.access', 'create'), ('ir.model.access', 'write'),
                ('ir.model.access', 'delete'),
                ('ir.model.field.access', 'create'),
                ('ir.rule.group', 'create'),
                ('ir.rule.group-res.group', 'create')]:
            with self.subTest(expected=expected):
                self.assertIn(expected, seen)
        entry, = AuditLog.search([('model', '=', 'ir.model.access'),
                ('action', '=', 'write')])
        self.assertEqual(entry.field_names, 'perm_write')

    @with_transaction()
    def test_self_granted_create_refused(self):
        "Granting oneself create rights on the log still forges nothing"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        Checkpoint = pool.get('dualrec.audit.checkpoint')
        Access = pool.get('ir.model.access')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            admin = create_user('sysadmin', company,
                role='group_dualrec_admin')
        group = ModelData.get_id('dualrec_core', 'group_dualrec_admin')
        for model in ['dualrec.audit.log', 'dualrec.audit.checkpoint']:
            Access.create([{'model': model, 'group': group,
                        'perm_read': True, 'perm_create': True,
                        'perm_write': True, 'perm_delete': True}])
        with as_user(admin):
            with self.assertRaises(AuditError):
                AuditLog.create([{'action': 'login', 'login': 'forged'}])
            with self.assertRaises(AuditError):
                Checkpoint.create([{'count': 1, 'head': '0' * 64}])
        # nor root
        with self.assertRaises(AuditError):
            AuditLog.create([{'action': 'login', 'login': 'forged'}])
        entry, = AuditLog.log('login', login='real')
        with self.assertRaises(AuditError):
            AuditLog.write([entry], {'login': 'forged'})
        with self.assertRaises(AuditError):
            AuditLog.delete([entry])

    @with_transaction()
    def test_rate_limited_login(self):
        "Repeated wrong passwords raise Tryton's rate limit, audited"
        pool = Pool()
        User = pool.get('res.user')
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            user = create_user('clerk', company)
            User.write([user], {'password': 'secret-pass-1'})
        try:
            with self.assertRaises(RateLimitException):
                for _ in range(10):
                    User.get_login('clerk', {'password': 'wrong-pass'})
        finally:
            _no_login_delays()
        self.assertTrue(AuditLog.search([('login', '=', 'clerk'),
                    ('details', '=', 'rate_limited')]))

    @with_transaction()
    def test_api_login_rate_limited(self):
        "Repeated wrong passwords answer 429 in the JSON API, not 500"
        from werkzeug.test import EnvironBuilder

        from trytond.modules.dualrec_core import routes
        from trytond.modules.dualrec_core.webapi import ApiError
        from trytond.protocols.wrappers import Request
        pool = Pool()
        company = create_company()
        with set_company(company):
            create_user('clerk', company)
        statuses = []
        for _ in range(10):
            request = Request(EnvironBuilder(method='POST',
                    json={'login': 'clerk', 'password': 'wrong'}).get_environ())
            try:
                routes.login(request, pool)
            except ApiError as error:
                statuses.append((error.status, error.code, error.commit))
        _no_login_delays()
        self.assertEqual(statuses[0], (401, 'login_failed', True))
        self.assertEqual(statuses[-1], (429, 'too_many_attempts', True))

    @with_transaction()
    def test_manager_reads_audit_list(self):
        "The manager reads every column of the audit log list"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            admin = create_user('sysadmin', company,
                role='group_dualrec_admin')
            manager = create_user('boss', company,
                role='group_dualrec_manager', branch=branches['P1-C1'])
            with as_user(admin):
                AuditLog.log('unmask', [admin])
            AuditLog.log('login', user=None, login='x')
            with as_user(manager):
                view = AuditLog.fields_view_get(view_type='tree')
                self.assertNotIn('user', view['fields'])
                names = list(view['fields'])
                ids = [e.id for e in AuditLog.search([])]
                self.assertTrue(ids)
                # what sao reads for the rows: the related names too
                rows = AuditLog.read(ids, names + ['rec_name'] + [
                        f'{n}.rec_name' for n, f in view['fields'].items()
                        if f['type'] == 'many2one'])
                self.assertEqual(len(rows), len(ids))
                self.assertIn(admin.rec_name,
                    {r['user_name'] for r in rows})
                self.assertEqual(AuditLog.search(
                        [('user_name', 'ilike', '%Sysadmin%')]),
                    AuditLog.search([('user', '=', admin.id)]))


@unittest.skipUnless(backend.name == 'postgresql', "PostgreSQL only")
class AuditConcurrencyTestCase(unittest.TestCase):
    "Test that audited writers do not wait for each other"

    @classmethod
    def setUpClass(cls):
        activate_module('dualrec_core')

    def test_concurrent_writers_do_not_block(self):
        "Two transactions both log and commit without waiting"
        pool = Pool(DB_NAME)
        opened, done = threading.Barrier(2, timeout=20), []

        def writer(name):
            with Transaction().start(DB_NAME, USER) as transaction:
                AuditLog = pool.get('dualrec.audit.log')
                AuditLog.log('login', login=name)
                # both have logged before either commits: a lock taken by
                # log() would make the other wait here until the timeout
                opened.wait()
                transaction.commit()
                done.append(name)

        threads = [threading.Thread(target=writer, args=(n,))
            for n in ['one', 'two']]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(sorted(done), ['one', 'two'])
        with Transaction().start(DB_NAME, USER) as transaction:
            AuditLog = pool.get('dualrec.audit.log')
            self.assertGreaterEqual(AuditLog.seal(), 2)
            count, broken = AuditLog.verify()
            self.assertIsNone(broken)
            transaction.commit()


del ModuleTestCase

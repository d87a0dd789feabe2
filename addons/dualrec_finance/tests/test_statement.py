# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import io
import os
import threading
import unittest
import zipfile
from decimal import Decimal

from trytond import backend
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.pool import Pool
from trytond.modules.dualrec_orders.tests.tools import (
    create_party, create_service)
from trytond.tests.test_tryton import DB_NAME, _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .test_bank_import import bank_csv, import_file, statement_journal
from .tools import (
    TODAY, as_user, confirm_orders, create_cny_company, set_company,
    set_up_finance)

POSTGRESQL = os.environ.get('DUALREC_TEST_BACKEND') == 'postgresql'
NOV = dt.date(2026, 11, 1)


def build(company, direction='receivable', date_from=NOV, date_to=TODAY,
        **kwargs):
    Statement = Pool().get('dualrec.statement')
    with Transaction().set_user(0), set_company(company):
        return Statement.build(company, direction, date_from, date_to,
            **kwargs)


class StatementTestCase(_DBTestCase):
    "Test the reconciliation statements"
    module = 'dualrec_finance'

    def set_up(self):
        company, branches, users, parties, products = set_up_finance()
        Address = Pool().get('party.address')
        Address.create([{'party': p.id} for p in parties.values()])
        confirm_orders(company, parties['INS1'], products['TPA'], 3,
            date=dt.date(2026, 11, 10), type_='valueadd',
            unit_price='10.00')
        confirm_orders(company, parties['INS1'], products['TPA'], 1,
            date=dt.date(2026, 10, 31), unit_price='10.00')
        confirm_orders(company, parties['INS2'], products['WASH'], 2,
            date=dt.date(2026, 11, 20), unit_price='53.00')
        return company, users, parties, products

    @with_transaction()
    def test_build_per_counterparty(self):
        "A statement per counterparty with the period's free orders"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, users, parties, products = self.set_up()
        statements = build(company)
        self.assertEqual([s.counterparty for s in statements],
            sorted([parties['INS1'], parties['INS2']], key=lambda p: p.id))
        by_party = {s.counterparty.code: s for s in statements}
        ins1 = by_party['INS1']
        self.assertEqual(len(ins1.lines), 3)
        self.assertEqual(ins1.total_amount, Decimal('30.00'))
        # VAT is split per order (9.43 + 0.57): the sums add up exactly
        self.assertEqual(ins1.untaxed_amount, Decimal('28.29'))
        self.assertEqual(ins1.tax_amount, Decimal('1.71'))
        self.assertEqual(ins1.amount_in_words, '叁拾元整')
        self.assertEqual(by_party['INS2'].total_amount, Decimal('106.00'))
        self.assertTrue(all(s.number for s in statements))
        self.assertEqual({s.state for s in statements}, {'draft'})
        # orders already on a statement are not taken again
        self.assertEqual(build(company), [])

        # a cancelled statement frees its orders
        with Transaction().set_user(0), set_company(company):
            ins1.__class__.cancel_with_reason([ins1], "wrong period")
        again, = build(company, counterparties=[parties['INS1']])
        self.assertEqual({l.order for l in again.lines},
            {l.order for l in ins1.lines})
        self.assertEqual(again.total_amount, Decimal('30.00'))

        # an order on a statement cannot be cancelled in the order center
        with Transaction().set_user(0), set_company(company):
            with self.assertRaises(UserError):
                Order.cancel_with_reason([again.lines[0].order], "no")

    @with_transaction()
    def test_one_statement_per_order(self):
        "The same order cannot be added to a second statement"
        pool = Pool()
        Line = pool.get('dualrec.statement.line')
        Statement = pool.get('dualrec.statement')
        company, users, parties, products = self.set_up()
        first = build(company, counterparties=[parties['INS1']])[0]
        with Transaction().set_user(0), set_company(company):
            other, = Statement.create([{
                        'company': company.id,
                        'counterparty': parties['INS1'].id,
                        'direction': 'receivable',
                        'date_from': NOV, 'date_to': TODAY,
                        'currency': company.currency.id}])
            with self.assertRaises(UserError):
                Line.create([{'statement': other.id,
                            'order': first.lines[0].order.id}])

    @with_transaction()
    def test_dispute_adjust_confirm(self):
        "A disputed line is adjusted, then the agreed total confirms"
        pool = Pool()
        Statement = pool.get('dualrec.statement')
        Line = pool.get('dualrec.statement.line')
        AuditLog = pool.get('dualrec.audit.log')
        company, users, parties, products = self.set_up()
        statement = build(company, counterparties=[parties['INS2']])[0]
        with set_company(company), as_user(users['finance']):
            statement = Statement(statement.id)
            Statement.send([statement])
            self.assertEqual(statement.state, 'sent')
            line = statement.lines[0]
            Line.write([line], {'disputed': True,
                    'reason': "the car was not washed"})
            statement = Statement(statement.id)
            self.assertEqual(statement.disputed, 1)
            with self.assertRaises(UserError):
                Statement.confirm_agreed([statement], Decimal('53.00'))

            adjustment = statement.add_adjustment(Line(line.id),
                Decimal('-53.00'), "not washed: credited")
            self.assertEqual(adjustment.state, 'confirmed')
            self.assertEqual(adjustment.source, 'statement')
            self.assertEqual(adjustment.total_amount, Decimal('-53.00'))
            statement = Statement(statement.id)
            self.assertEqual(statement.disputed, 0)
            self.assertEqual(len(statement.lines), 3)
            self.assertEqual(statement.total_amount, Decimal('53.00'))

            with self.assertRaises(UserError):
                Statement.confirm_agreed([statement], Decimal('106.00'))
            Statement.confirm_agreed([statement], Decimal('53.00'))
            statement = Statement(statement.id)
            self.assertEqual(statement.state, 'confirmed')
            self.assertEqual(statement.agreed_total, Decimal('53.00'))
            self.assertEqual(statement.confirmed_by.login, 'finance')
            self.assertTrue(statement.confirmed_at)
            # lines are frozen once confirmed
            with self.assertRaises(UserError):
                Line.delete([statement.lines[0]])
        with Transaction().set_user(0):
            actions = [e.action for e in AuditLog.search([
                        ('model', '=', 'dualrec.statement'),
                        ('record_id', '=', statement.id)],
                    order=[('id', 'ASC')])]
        self.assertEqual(actions, ['statement_build', 'statement_send',
                'statement_adjust', 'statement_confirm'])

    @with_transaction()
    def test_remove_line(self):
        "Finance removes a disputed line: its order is free again"
        pool = Pool()
        Statement = pool.get('dualrec.statement')
        Line = pool.get('dualrec.statement.line')
        company, users, parties, products = self.set_up()
        statement = build(company, counterparties=[parties['INS1']])[0]
        with set_company(company), as_user(users['finance']):
            Line.delete([Line(statement.lines[0].id)])
            statement = Statement(statement.id)
            self.assertEqual(len(statement.lines), 2)
            self.assertEqual(statement.total_amount, Decimal('20.00'))
        again, = build(company, counterparties=[parties['INS1']])
        self.assertEqual(len(again.lines), 1)

    @with_transaction()
    def test_invoice_and_settle(self):
        "The confirmed statement is invoiced, paid by the bank, settled"
        pool = Pool()
        Statement = pool.get('dualrec.statement')
        Invoice = pool.get('account.invoice')
        company, users, parties, products = self.set_up()
        statement = build(company, counterparties=[parties['INS1']])[0]
        with set_company(company), as_user(users['finance']):
            Statement.send([Statement(statement.id)])
            Statement.confirm_agreed([Statement(statement.id)],
                Decimal('30.00'))
            Statement.create_invoice([Statement(statement.id)])
            statement = Statement(statement.id)
            self.assertEqual(statement.state, 'invoiced')
            invoice = statement.invoice
            self.assertEqual(invoice.state, 'posted')
            self.assertEqual(invoice.type, 'out')
            self.assertEqual(invoice.party, parties['INS1'])
            self.assertEqual(invoice.total_amount, Decimal('30.00'))
            self.assertEqual(invoice.tax_amount, Decimal('1.71'))
            self.assertEqual(invoice.reference, statement.number)
            self.assertEqual({l.order.state for l in statement.lines},
                {'invoiced'})
        with Transaction().set_user(0), set_company(company):
            journal = statement_journal(company)
            bank, = import_file(company, journal, bank_csv([
                        ['2026-12-01', 'SN100', parties['INS1'].name, '6222',
                            '30.00', '', f'对账单{statement.number}']]))
            self.assertEqual(bank.origins[0].information['dualrec_match'],
                'reference')
            bank.__class__.validate_statement([bank])
            # the queue runs after the commit: run its task here
            Invoice.process([Invoice(invoice.id)])
            statement = Statement(statement.id)
            self.assertEqual(statement.invoice.state, 'paid')
            self.assertEqual(statement.state, 'settled')
            self.assertEqual({l.order.state for l in statement.lines},
                {'settled'})

    @with_transaction()
    def test_exports(self):
        "The statement as xlsx and as a printable document"
        pool = Pool()
        Xlsx = pool.get('dualrec.statement.xlsx', type='report')
        Report = pool.get('dualrec.statement.report', type='report')
        company, users, parties, products = self.set_up()
        statement = build(company, counterparties=[parties['INS1']])[0]
        with set_company(company), as_user(users['finance']):
            ext, data, _, _ = Xlsx.execute([statement.id], {})
            self.assertEqual(ext, 'xlsx')
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                strings = ''.join(archive.read(n).decode()
                    for n in archive.namelist()
                    if n.startswith('xl/worksheets/'))
            self.assertIn(statement.number, strings)
            self.assertIn('叁拾元整', strings)
            ext, data, _, _ = Report.execute([statement.id], {})
            self.assertEqual(ext, 'odt')
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                content = archive.read('content.xml').decode()
            self.assertIn('叁拾元整', content)
            self.assertIn(statement.lines[0].order.number, content)

    @with_transaction()
    def test_access(self):
        "Finance works statements, managers read them, others see none"
        pool = Pool()
        Statement = pool.get('dualrec.statement')
        Line = pool.get('dualrec.statement.line')
        company, users, parties, products = self.set_up()
        statements = build(company)
        with set_company(company):
            with as_user(users['finance']):
                self.assertEqual(len(Statement.search([])), 2)
            with as_user(users['manager']):
                self.assertEqual(len(Statement.search([])), 2)
                with self.assertRaises(AccessError):
                    Statement.write([Statement(statements[0].id)],
                        {'date_to': TODAY})
                with self.assertRaises(AccessButtonError):
                    Statement.send([Statement(statements[0].id)])
            for role in ['sales', 'reviewer', 'orders']:
                with as_user(users[role]):
                    with self.assertRaises(AccessError):
                        Statement.search([])
                    with self.assertRaises(AccessError):
                        Line.search([])


@unittest.skipUnless(POSTGRESQL, "concurrent transactions need PostgreSQL")
class StatementConcurrencyTestCase(_DBTestCase):
    "Test that concurrent builds never put an order on two statements"
    module = 'dualrec_finance'

    @with_transaction()
    def test_concurrent_build(self):
        "A second build of the same orders waits for the first and fails"
        company = create_cny_company("并发对账科技有限公司")
        party = create_party("并发保险股份有限公司", 'CONC-ST')
        with set_company(company):
            product = create_service('CONCST')
        confirm_orders(company, party, product, 3, source='conc')
        Transaction().commit()
        company_id, party_id = company.id, party.id

        def run(result, started, release):
            try:
                with Transaction().start(DB_NAME, 0,
                        context={'company': company_id}) as transaction:
                    try:
                        Company = Pool().get('company.company')
                        Party = Pool().get('party.party')
                        statements = build(Company(company_id),
                            counterparties=[Party(party_id)])
                        result['value'] = [s.id for s in statements]
                        started.set()
                        release.wait(30)
                        transaction.commit()
                    except Exception:
                        transaction.rollback()
                        raise
            except Exception as error:
                result['error'] = error
            finally:
                started.set()

        threads = []
        for _ in range(2):
            result, started, release = {}, threading.Event(), \
                threading.Event()
            thread = threading.Thread(target=run,
                args=(result, started, release))
            threads.append((thread, result, started, release))
        (first, first_result, first_started, first_release), \
            (second, second_result, _, second_release) = threads
        first.start()
        first_started.wait(30)
        self.assertIn('value', first_result)
        second_release.set()
        second.start()
        second.join(2)
        self.assertTrue(second.is_alive(), "the second build must wait")
        first_release.set()
        first.join(30)
        second.join(30)
        self.assertNotIn('error', first_result)
        # refused (or to be retried, as the dispatcher does on a
        # serialization failure): it never puts the orders on a second
        # statement
        self.assertIsInstance(second_result.get('error'),
            (UserError, backend.DatabaseOperationalError))
        Transaction().rollback()
        Company = Pool().get('company.company')
        self.assertEqual(build(Company(company_id)), [])
        Line = Pool().get('dualrec.statement.line')
        lines = Line.search([('statement.counterparty', '=', party_id)])
        self.assertEqual(len(lines), 3)
        self.assertEqual({l.statement.id for l in lines},
            set(first_result['value']))

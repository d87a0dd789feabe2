# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import csv
import datetime as dt
import io
import os
import re
from decimal import Decimal

import polib

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import PYSONDecoder
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from ..payment import (
    PAYMENT_FILE_ENCODING, PAYMENT_FILE_HEADER, create_payment_journal,
    payment_file)
from .test_bank_import import (
    bank_csv, import_file, post_invoice, statement_journal)
from .tools import (
    TODAY, as_user, confirm_orders, create_cny_company, set_company,
    set_up_finance)

NOV = dt.date(2026, 11, 1)


def create_bank(name):
    "Return a bank (开户行) of name."
    pool = Pool()
    Party = pool.get('party.party')
    Bank = pool.get('bank')
    with Transaction().set_user(0):
        party, = Party.create([{'name': name}])
        bank, = Bank.create([{'party': party.id}])
    return bank


def add_bank_account(party, number, bank_name="中国工商银行北京分行"):
    "Give party a bank account of number at a bank named bank_name."
    Account = Pool().get('bank.account')
    bank = create_bank(bank_name) if bank_name else None
    with Transaction().set_user(0):
        account, = Account.create([{
                    'bank': bank.id if bank else None,
                    'owners': [('add', [party.id])],
                    'numbers': [('create', [{
                                    'type': 'other', 'number': number}])],
                    }])
    return account


def run_wizard(name, records):
    """Return the wizard name instantiated on records (the active records
    of the context), as the client starts it: its access is checked, then
    its states run unchecked as they do over RPC."""
    Wizard = Pool().get(name, type='wizard')
    session_id, _, _ = Wizard.create()
    return Wizard(session_id)


def unchecked():
    return Transaction().set_context(_check_access=False)


def pay_lines(lines, journal):
    """Pay lines through Tryton's Pay wizard with journal; return the draft
    payments it created."""
    pool = Pool()
    Payment = pool.get('account.payment')
    with Transaction().set_context(active_model='account.move.line',
            active_ids=[l.id for l in lines], active_id=lines[0].id):
        wizard = run_wizard('account.move.line.pay', lines)
        with unchecked():
            wizard.default_start([])
            wizard.ask_journal.journal = journal
            wizard.ask_journal.journals = []
            _, data = wizard.do_pay({})
    return Payment.browse(data['res_id'])


def process(payments):
    """Process approved payments through Tryton's Process wizard; return
    the payment groups."""
    Group = Pool().get('account.payment.group')
    with Transaction().set_context(active_model='account.payment',
            active_ids=[p.id for p in payments], active_id=payments[0].id):
        wizard = run_wizard('account.payment.process', payments)
        with unchecked():
            _, data = wizard.do_process({})
    return Group.browse(data['res_id'])


def print_file(group):
    "Print the payment file of group as the client does: (ext, data)."
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    PaymentFile = pool.get('dualrec.payment.file', type='report')
    action_id = ModelData.get_id('dualrec_finance', 'report_payment_file')
    ext, data, _, _ = PaymentFile.execute([group.id], {
            'action_id': action_id, 'model': 'account.payment.group'})
    return ext, data


def read_file(data):
    "Return the rows of the payment file data."
    return list(csv.reader(io.StringIO(
                data.decode(PAYMENT_FILE_ENCODING), newline='')))


class PaymentTestCase(_DBTestCase):
    "Test the payouts to merchants and agents"
    module = 'dualrec_finance'

    def set_up(self, receivable=None):
        """Return company, users, parties, the payment journal and the
        posted supplier invoices of the payable statements of MER1 (2 ×
        53.00) and MER2 (1 × 21.20); receivable: the amount of a customer
        invoice of INS1 posted before them."""
        pool = Pool()
        Address = pool.get('party.address')
        Statement = pool.get('dualrec.statement')
        company, branches, users, parties, products = set_up_finance()
        Address.create([{'party': p.id} for p in parties.values()])
        confirm_orders(company, parties['MER1'], products['WASH'], 2,
            date=dt.date(2026, 11, 10), type_='payout', unit_price='53.00')
        confirm_orders(company, parties['MER2'], products['WASH'], 1,
            date=dt.date(2026, 11, 12), type_='payout', unit_price='21.20')
        with Transaction().set_user(0), set_company(company):
            if receivable:
                # invoiced before the statements: invoice numbers follow
                # the invoice dates
                post_invoice(company, parties['INS1'], receivable)
            journal = create_payment_journal(company)
            statements = Statement.build(company, 'payable', NOV, TODAY)
        with set_company(company), as_user(users['finance']):
            statements = Statement.browse(statements)
            Statement.send(statements)
            for statement in statements:
                Statement.confirm_agreed([statement], statement.total_amount)
            Statement.create_invoice(statements)
        invoices = {s.counterparty.code: s.invoice
            for s in Statement.browse(statements)}
        return company, users, parties, journal, invoices

    def pay(self, invoices, journal):
        "Pay, submit, approve and process the invoices: return the group."
        Payment = Pool().get('account.payment')
        payments = pay_lines(
            [l for i in invoices for l in i.lines_to_pay], journal)
        Payment.submit(payments)
        # receipts are processed once submitted
        Payment.approve([p for p in payments if p.kind == 'payable'])
        group, = process(payments)
        return group

    @with_transaction()
    def test_payment_journal(self):
        "The company's CNY payment journal clears through 1012, once"
        company, users, parties, journal, invoices = self.set_up()
        self.assertEqual(journal.process_method, 'manual')
        self.assertEqual(journal.currency.code, 'CNY')
        self.assertEqual(journal.clearing_account.code, '1012')
        self.assertEqual(journal.clearing_journal.type, 'cash')
        self.assertEqual(journal.clearing_posting_delay, dt.timedelta(1))
        with Transaction().set_user(0), set_company(company):
            self.assertEqual(create_payment_journal(company), journal)

    @with_transaction()
    def test_succeed_settles(self):
        "A payout that succeeds pays the invoice and settles the statement"
        pool = Pool()
        Payment = pool.get('account.payment')
        Invoice = pool.get('account.invoice')
        Statement = pool.get('dualrec.statement')
        AuditLog = pool.get('dualrec.audit.log')
        company, users, parties, journal, invoices = self.set_up()
        invoice = invoices['MER1']
        self.assertEqual(invoice.type, 'in')
        self.assertEqual(invoice.total_amount, Decimal('106.00'))
        with set_company(company), as_user(users['finance']):
            group = self.pay([invoice], journal)
            payment, = group.payments
            self.assertEqual(payment.state, 'processing')
            self.assertEqual(payment.kind, 'payable')
            self.assertEqual(payment.party, parties['MER1'])
            self.assertEqual(payment.amount, Decimal('106.00'))
            Payment.succeed([payment])
            payment = Payment(payment.id)
            self.assertEqual(payment.state, 'succeeded')
            clearing = payment.clearing_move
            self.assertEqual(clearing.state, 'draft')
            self.assertEqual({(l.account.code, l.debit, l.credit)
                    for l in clearing.lines}, {
                    ('2202', Decimal('106.00'), Decimal('0')),
                    ('1012', Decimal('0'), Decimal('106.00'))})
            # the queue runs after the commit: run its task here
            with unchecked():
                Invoice.process([Invoice(invoice.id)])
            invoice = Invoice(invoice.id)
            self.assertEqual(invoice.state, 'paid')
            statement, = Statement.search([('invoice', '=', invoice.id)])
            self.assertEqual(statement.state, 'settled')
            self.assertEqual({l.order.state for l in statement.lines},
                {'settled'})
        with Transaction().set_user(0):
            entry, = AuditLog.search([('model', '=', 'account.payment'),
                    ('record_id', '=', payment.id)])
        self.assertEqual(entry.action, 'payment_succeed')
        self.assertEqual(entry.user, users['finance'])

    @with_transaction()
    def test_fail_before_success(self):
        "A payout that fails leaves the invoice posted and payable again"
        pool = Pool()
        Payment = pool.get('account.payment')
        Invoice = pool.get('account.invoice')
        AuditLog = pool.get('dualrec.audit.log')
        company, users, parties, journal, invoices = self.set_up()
        invoice = invoices['MER1']
        line, = invoice.lines_to_pay
        with set_company(company), as_user(users['finance']):
            group = self.pay([invoice], journal)
            payment, = group.payments
            self.assertEqual(Invoice(invoice.id).lines_to_pay[0]
                .payment_amount, Decimal('0.00'))
            Payment.fail([payment])
            payment = Payment(payment.id)
            self.assertEqual(payment.state, 'failed')
            self.assertIsNone(payment.clearing_move)
            invoice = Invoice(invoice.id)
            self.assertEqual(invoice.state, 'posted')
            self.assertEqual(invoice.amount_to_pay, Decimal('106.00'))
            line, = invoice.lines_to_pay
            self.assertIsNone(line.reconciliation)
            self.assertEqual(line.payment_amount, Decimal('106.00'))
            # it is paid again
            again, = pay_lines([line], journal)
            self.assertEqual(again.amount, Decimal('106.00'))
        with Transaction().set_user(0):
            self.assertEqual([e.action for e in AuditLog.search([
                            ('model', '=', 'account.payment'),
                            ('record_id', '=', payment.id)])],
                ['payment_fail'])

    def succeed_then_fail(self, post_clearing):
        pool = Pool()
        Payment = pool.get('account.payment')
        Invoice = pool.get('account.invoice')
        Statement = pool.get('dualrec.statement')
        PaymentJournal = pool.get('account.payment.journal')
        AuditLog = pool.get('dualrec.audit.log')
        company, users, parties, journal, invoices = self.set_up()
        invoice = invoices['MER2']
        with set_company(company), as_user(users['finance']):
            group = self.pay([invoice], journal)
            payment, = group.payments
            with Transaction().set_context(
                    clearing_date=TODAY - dt.timedelta(days=1)):
                Payment.succeed([payment])
            with unchecked():
                Invoice.process([Invoice(invoice.id)])
            statement, = Statement.search([('invoice', '=', invoice.id)])
            self.assertEqual(statement.state, 'settled')
        clearing = Payment(payment.id).clearing_move
        if post_clearing:
            # the clearing moves of yesterday are posted by the cron job
            with Transaction().set_user(0), set_company(company), \
                    Transaction().set_context(company=company.id):
                PaymentJournal.cron_post_clearing_moves(date=TODAY)
            self.assertEqual(clearing.__class__(clearing.id).state,
                'posted')
        with set_company(company), as_user(users['finance']):
            Payment.fail([Payment(payment.id)])
            payment = Payment(payment.id)
            self.assertEqual(payment.state, 'failed')
            self.assertIsNone(payment.clearing_move)
            # the queue runs after the commit: run its task here
            with unchecked():
                Invoice.process([Invoice(invoice.id)])
            invoice = Invoice(invoice.id)
            self.assertEqual(invoice.state, 'posted')
            self.assertEqual(invoice.amount_to_pay, Decimal('21.20'))
            line, = invoice.lines_to_pay
            self.assertIsNone(line.reconciliation)
            self.assertEqual(line.payment_amount, Decimal('21.20'))
            statement = Statement(statement.id)
            self.assertEqual(statement.state, 'invoiced')
            self.assertEqual({l.order.state for l in statement.lines},
                {'invoiced'})
        with Transaction().set_user(0):
            self.assertEqual([e.action for e in AuditLog.search([
                            ('model', '=', 'account.payment'),
                            ('record_id', '=', payment.id)],
                        order=[('id', 'ASC')])],
                ['payment_succeed', 'payment_fail'])
            self.assertEqual([e.action for e in AuditLog.search([
                            ('model', '=', 'dualrec.statement'),
                            ('record_id', '=', statement.id)],
                        order=[('id', 'ASC')])][-2:],
                ['statement_settle', 'statement_unsettle'])
        return clearing

    @with_transaction()
    def test_fail_after_success(self):
        "A payout that fails after success reopens invoice and statement"
        Move = Pool().get('account.move')
        clearing = self.succeed_then_fail(post_clearing=False)
        # not posted yet: the clearing move is deleted
        self.assertFalse(Move.search([('id', '=', clearing.id)]))

    @with_transaction()
    def test_fail_after_posted_success(self):
        "A failure after the clearing move is posted cancels that move"
        Move = Pool().get('account.move')
        clearing = self.succeed_then_fail(post_clearing=True)
        clearing = Move(clearing.id)
        self.assertEqual(clearing.state, 'posted')
        cancel, = Move.search([('origin', '=', str(clearing))])
        # reversed in red (红字冲销): the same sides, negative amounts
        self.assertEqual(sorted((l.account.code, l.debit, l.credit)
                for l in cancel.lines), [
                ('1012', Decimal('0'), Decimal('-21.20')),
                ('2202', Decimal('-21.20'), Decimal('0'))])

    @with_transaction()
    def test_payment_file(self):
        "The group's bank file: a row per payee, refused without account"
        pool = Pool()
        Payment = pool.get('account.payment')
        Group = pool.get('account.payment.group')
        Invoice = pool.get('account.invoice')
        company, users, parties, journal, invoices = self.set_up(
            receivable='9.00')
        add_bank_account(parties['MER1'], '6222020200001234567')
        add_bank_account(parties['INS1'], '6222000000000000001')
        with set_company(company), as_user(users['finance']):
            # a group of receipts (direct debits) is no bank payment file
            receipt, = Invoice.search([('type', '=', 'out')])
            receipts, = self.pay([receipt], journal).payments
            self.assertEqual(receipts.kind, 'receivable')
            with self.assertRaises(UserError) as refused:
                print_file(receipts.group)
            self.assertIn('receipts', refused.exception.message)

            group = self.pay([invoices['MER1'], invoices['MER2']], journal)
            # MER2 has no bank account: no file
            with self.assertRaises(UserError) as refused:
                print_file(group)
            self.assertIn(parties['MER2'].name, refused.exception.message)
            self.assertNotIn(parties['MER1'].name, refused.exception.message)
        account = add_bank_account(parties['MER2'], '6217000010009876543',
            bank_name=None)
        with set_company(company), as_user(users['finance']):
            # nor without the bank of the account
            with self.assertRaises(UserError) as refused:
                print_file(group)
            self.assertIn('开户行', refused.exception.message)
        with Transaction().set_user(0):
            account.bank = create_bank("中国建设银行上海分行")
            account.save()
        with set_company(company), as_user(users['finance']):
            ext, data = print_file(group)
            self.assertEqual(ext, 'csv')
            rows = read_file(data)
            self.assertEqual(rows[0], PAYMENT_FILE_HEADER)
            payments = {p.party.code: p for p in Group(group.id).payments}
            self.assertEqual(sorted(rows[1:]), sorted([
                        [parties['MER1'].name, '6222020200001234567',
                            "中国工商银行北京分行", '106.00',
                            f"{invoices['MER1'].reference} "
                            f"{invoices['MER1'].number}",
                            payments['MER1'].number],
                        [parties['MER2'].name, '6217000010009876543',
                            "中国建设银行上海分行", '21.20',
                            f"{invoices['MER2'].reference} "
                            f"{invoices['MER2'].number}",
                            payments['MER2'].number],
                        ]))
            self.assertTrue(invoices['MER1'].reference.startswith('DZ'))
            # the payments done are not sent again
            Payment.succeed([payments['MER1']])
            rows = read_file(print_file(group)[1])
            self.assertEqual([r[0] for r in rows[1:]],
                [parties['MER2'].name])
            Payment.fail([Payment(payments['MER2'].id)])
            with self.assertRaises(UserError):
                print_file(group)

    def test_payment_file_format(self):
        "The bank file is GBK with CRLF and amounts with 2 places"
        data = payment_file([
                ("洁净洗车服务部", '6222', "工行", Decimal('5.5'), "DZ1 1",
                    '7')])
        self.assertEqual(data, ('收款人户名,收款账号,开户行,金额,用途,付款编号\r\n'
                '洁净洗车服务部,6222,工行,5.50,DZ1 1,7\r\n').encode('gbk'))
        with self.assertRaises(UnicodeEncodeError):
            payment_file([("😀", '1', 'b', Decimal(1), '', '1')])

    def test_translations(self):
        "Every menu, action, tab and message of the payouts is in Chinese"
        root = os.path.dirname(os.path.dirname(__file__))
        po = polib.pofile(os.path.join(root, 'locale', 'zh_CN.po'))
        translated = {e.msgctxt for e in po if e.msgstr}
        with open(os.path.join(root, 'payment.xml')) as file:
            xml = file.read()
        with open(os.path.join(root, 'message.xml')) as file:
            messages = file.read()
        expected = set()
        for model, context in [
                ('ir.action.act_window', 'model:ir.action,name:'),
                ('ir.action.report', 'model:ir.action,name:'),
                ('ir.action.act_window.domain',
                    'model:ir.action.act_window.domain,name:'),
                ]:
            expected |= {context + i for i in re.findall(
                    r'<record model="%s" id="([^"]+)"' % re.escape(model),
                    xml)}
        expected |= {'model:ir.ui.menu,name:' + i
            for i in re.findall(r'<menuitem [^>]*id="([^"]+)"', xml)}
        expected |= {'model:ir.message,text:' + i
            for i in re.findall(r'id="(msg_payment[^"]+)"', messages)}
        self.assertGreater(len(expected), 30)
        self.assertEqual(expected - translated, set())

    @with_transaction()
    def test_access(self):
        "Finance pays, managers read payouts, the other roles see none"
        pool = Pool()
        Payment = pool.get('account.payment')
        Group = pool.get('account.payment.group')
        PaymentJournal = pool.get('account.payment.journal')
        company, users, parties, journal, invoices = self.set_up()
        add_bank_account(parties['MER1'], '6222020200001234567')
        with set_company(company), as_user(users['finance']):
            group = self.pay([invoices['MER1']], journal)
            payment, = group.payments
            self.assertEqual(len(Payment.search([])), 1)
            self.assertEqual(print_file(group)[0], 'csv')
        with set_company(company), as_user(users['manager']):
            self.assertEqual(Payment.search([]), [payment])
            self.assertEqual(Group.search([]), [group])
            # what the client reads for the lists and forms
            for Model, record in [(Payment, payment), (Group, group)]:
                for view_type in ['tree', 'form']:
                    view = Model.fields_view_get(view_type=view_type)
                    names = [n for n, f in view['fields'].items()
                        if f['type'] not in {'one2many', 'many2many'}]
                    names += [f'{n}.rec_name' for n, f in
                        view['fields'].items() if f['type'] == 'many2one']
                    values, = Model.read([record.id], names)
                    self.assertEqual(values['id'], record.id)
            with self.assertRaises(AccessError):
                Payment.write([payment], {'reference': "X"})
            with self.assertRaises(AccessError):
                Payment.succeed([payment])
            with self.assertRaises(AccessError):
                print_file(group)
        self.assertEqual(Payment(payment.id).state, 'processing')
        for role in ['sales', 'reviewer', 'orders']:
            with set_company(company), as_user(users[role]):
                for Model in [Payment, Group, PaymentJournal]:
                    with self.assertRaises(AccessError):
                        Model.search([])

        # Tryton's company rule: another company's payments are not seen
        other = create_cny_company("另一家科技有限公司")
        with Transaction().set_user(0), set_company(other):
            other_journal, = PaymentJournal.create([{
                        'name': "Other", 'company': other.id,
                        'currency': other.currency.id,
                        'process_method': 'manual'}])
            foreign, = Payment.create([{
                        'company': other.id, 'journal': other_journal.id,
                        'kind': 'payable', 'party': parties['MER1'].id,
                        'amount': Decimal('1.00'), 'date': TODAY}])
            self.assertEqual(len(Payment.search([])), 2)
        with set_company(company), as_user(users['finance']):
            self.assertEqual(Payment.search([]), [payment])
            with self.assertRaises(AccessError):
                Payment.read([foreign.id], ['amount'])

    @with_transaction()
    def test_menus(self):
        "The finance center's payment menus open their lists with tabs"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        ActWindow = pool.get('ir.action.act_window')
        Menu = pool.get('ir.ui.menu')
        Payment = pool.get('account.payment')
        company, users, parties, journal, invoices = self.set_up(
            receivable='9.00')
        with set_company(company), as_user(users['finance']):
            group = self.pay([invoices['MER1']], journal)
            draft, = pay_lines(invoices['MER2'].lines_to_pay, journal)
            Payment.succeed(group.payments)
        with Transaction().set_user(0), set_company(company):
            bank, = import_file(company, statement_journal(company),
                bank_csv([['2026-12-01', 'SN1', parties['MER1'].name,
                            '6222', '', '106.00', '付款'],
                        ['2026-12-01', 'SN2', parties['INS1'].name, '6',
                            '9.00', '', '货款']]))
        with set_company(company), as_user(users['finance']):
            # a receipt (direct debit) is no payment request
            pay_lines(pool.get('account.invoice').search([
                        ('type', '=', 'out')])[0].lines_to_pay, journal)
        decoder = PYSONDecoder({})

        def tabs(xml_id):
            action = ActWindow(ModelData.get_id('dualrec_finance', xml_id))
            Model = pool.get(action.res_model)
            order = decoder.decode(action.order) if action.order else None
            domain = decoder.decode(action.domain) if action.domain else []
            return {d.name: Model.search([domain,
                        decoder.decode(d.domain) if d.domain else []],
                    order=order)
                for d in action.act_window_domains}

        with set_company(company), as_user(users['finance']):
            requests = tabs('act_payment_request')
            self.assertEqual(requests['Draft'], [draft])
            self.assertEqual(requests['To Process'], [])
            self.assertEqual(requests['All'], [draft])
            transfers = tabs('act_fund_transfer')
            self.assertEqual(transfers['Succeeded'], list(group.payments))
            self.assertEqual(transfers['Processing'], [])
            self.assertEqual(len(transfers['All']), 3)
            groups = tabs('act_fund_transfer_group')
            self.assertEqual(groups['Complete'], [group])
            self.assertEqual(groups['Pending'], [])
            allocations = tabs('act_allocation')
            # the payout reconciled the invoice's line with the clearing
            payout, = allocations['Payouts']
            self.assertIn(invoices['MER1'].lines_to_pay[0], payout.lines)
            self.assertEqual(allocations['Receipts'], [])
            channel = tabs('act_channel_reconciliation')
            self.assertEqual(len(channel['All']), 2)
            # the insurer's receipt matched its invoice, the payout not yet
            self.assertEqual([o.amount for o in channel['Matched']],
                [Decimal('9.00')])
            self.assertEqual([o.amount for o in channel['Unmatched']],
                [Decimal('-106.00')])
            names = {m.name for m in Menu.search([
                        ('parent', 'child_of', [ModelData.get_id(
                                    'dualrec_finance', 'menu_finance')])])}
            self.assertLessEqual({"Payment Requests", "Fund Transfers",
                    "Payment Groups", "Allocation Records",
                    "Payment Channel Reconciliation"}, names)
        with set_company(company), as_user(users['manager']):
            names = {m.name for m in Menu.search([])}
            self.assertLessEqual({"Fund Transfers", "Payment Groups"}, names)
            self.assertNotIn("Payment Requests", names)
            self.assertNotIn("Allocation Records", names)

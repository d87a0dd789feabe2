# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import contextlib
import datetime as dt
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from dualrec.fapiao_sim import FapiaoSimulator

from ..exceptions import FapiaoError
from .test_bank_import import bank_csv, import_file, statement_journal
from .test_statement import build
from .tools import TODAY, as_user, confirm_orders, set_company, set_up_finance

TAX_IDS = {
    'INS1': '91440300MA5D000015',
    'INS2': '91310000MA1K00002C',
    'MER1': '91110108MA01AB0033',
    }
TAX_CODE = '3040201990000000000'


def issue(fapiao):
    """Request fapiao, run the queued send and poll the provider once;
    return it read again."""
    Fapiao = Pool().get('dualrec.fapiao')
    Fapiao.request([fapiao])
    run_tasks()
    Fapiao.poll([fapiao])
    return Fapiao(fapiao.id)


def run_tasks():
    "Run the queued tasks, as the server does after the commit."
    Queue = Pool().get('ir.queue')
    transaction = Transaction()
    while transaction.tasks:
        Queue(transaction.tasks.pop()).run()


class FapiaoTestCase(_DBTestCase):
    "Test the fapiao requests, the provider and the supplier fapiao"
    module = 'dualrec_finance'

    def set_up(self, provider='http', **simulator):
        pool = Pool()
        Address = pool.get('party.address')
        Identifier = pool.get('party.identifier')
        Template = pool.get('product.template')
        Configuration = pool.get('dualrec.finance.configuration')
        company, branches, users, parties, products = set_up_finance()
        Address.create([{'party': p.id} for p in parties.values()])
        Identifier.create([{'party': parties[c].id, 'type': 'cn_vat',
                    'code': code} for c, code in TAX_IDS.items()])
        Template.write([p.template for p in products.values()],
            {'fapiao_tax_code': TAX_CODE})
        confirm_orders(company, parties['INS1'], products['TPA'], 3,
            date=dt.date(2026, 11, 10), unit_price='10.00')
        confirm_orders(company, parties['MER1'], products['WASH'], 2,
            date=dt.date(2026, 11, 12), type_='payout',
            unit_price='53.00')
        self.simulator = None
        values = {'fapiao_provider': provider, 'fapiao_wait': 0}
        if provider == 'http':
            self.simulator = FapiaoSimulator(
                today=lambda: TODAY, **simulator).start()
            self.addCleanup(self.simulator.stop)
            values['fapiao_url'] = self.simulator.url
        configuration = Configuration(1)
        for name, value in values.items():
            setattr(configuration, name, value)
        configuration.save()
        self.company, self.users, self.parties = company, users, parties
        return company, users, parties

    def invoiced(self, direction='receivable', party='INS1'):
        "Return the statement of party, confirmed and invoiced by finance."
        Statement = Pool().get('dualrec.statement')
        statement, = build(self.company, direction=direction,
            counterparties=[self.parties[party]])
        with set_company(self.company), as_user(self.users['finance']):
            Statement.send([statement])
            statement = Statement(statement.id)
            Statement.confirm_agreed([statement], statement.total_amount)
            Statement.create_invoice([Statement(statement.id)])
        return Statement(statement.id)

    def finance(self):
        return _finance(self.company, self.users['finance'])

    @with_transaction()
    def test_request_issued(self):
        "The request of an invoice is issued by the provider, exactly once"
        pool = Pool()
        Fapiao = pool.get('dualrec.fapiao')
        Attachment = pool.get('ir.attachment')
        AuditLog = pool.get('dualrec.audit.log')
        self.set_up(polls=2)
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            self.assertEqual(fapiao.state, 'draft')
            self.assertEqual(fapiao.invoice, statement.invoice)
            self.assertEqual(fapiao.buyer_name, self.parties['INS1'].name)
            self.assertEqual(fapiao.buyer_tax_id, TAX_IDS['INS1'])
            self.assertIn(statement.number, fapiao.remark)
            self.assertEqual(fapiao.total_amount, Decimal('30.00'))
            self.assertEqual(fapiao.tax_amount, statement.tax_amount)
            self.assertEqual(fapiao.kind, 'digital_normal')
            self.assertTrue(fapiao.request_no.startswith('KP'))
            Fapiao.request([fapiao])
            fapiao = Fapiao(fapiao.id)
            self.assertEqual(fapiao.state, 'issuing')
            self.assertEqual(fapiao.provider, 'http')
            run_tasks()
            fapiao = Fapiao(fapiao.id)
            # sent, not yet final (wait 0)
            self.assertEqual(fapiao.state, 'issuing')
            # the task runs again (a crash before its commit): the provider
            # answers the same request
            Fapiao.send([fapiao])
            self.assertEqual(self.simulator.issue_calls, 2)
            self.assertEqual(len(self.simulator.statuses), 1)
            Fapiao.poll([fapiao])
            fapiao = Fapiao(fapiao.id)
            self.assertEqual(fapiao.state, 'issuing')
            Fapiao.poll([fapiao])
            fapiao = Fapiao(fapiao.id)
            self.assertEqual(fapiao.state, 'issued')
            self.assertEqual(len(fapiao.number), 20)
            self.assertEqual(fapiao.number[:2], '26')
            self.assertEqual(fapiao.issue_date, TODAY)
            sent = self.simulator.requests[fapiao.request_no]
            self.assertEqual(sent['total'], '30.00')
            self.assertEqual(sent['buyer_tax_id'], TAX_IDS['INS1'])
            self.assertEqual(sent['lines'][0]['tax_code'], TAX_CODE)
            self.assertEqual(
                sum(Decimal(l['amount']) for l in sent['lines'])
                + Decimal(sent['tax']), Decimal(sent['total']))
        self.assertEqual(self.simulator.sequence, 1)
        with self.finance():
            attachments = Attachment.search([
                    ('resource', '=', str(statement.invoice))])
            self.assertEqual(sorted(a.name for a in attachments),
                [f'{fapiao.number}.{k}' for k in ['ofd', 'pdf', 'xml']])
            # one live fapiao per invoice
            with Transaction().set_context(_check_access=False):
                copy, = Fapiao.copy([fapiao], default={
                        'request_no': 'KP-COPY'})
            with self.assertRaises(FapiaoError):
                Fapiao.request([copy])
        actions = [e.action for e in AuditLog.search([
                    ('model', '=', 'dualrec.fapiao'),
                    ('record_id', '=', fapiao.id)], order=[('id', 'ASC')])]
        self.assertEqual(actions, ['fapiao_request', 'fapiao_issue'])

    @with_transaction()
    def test_failure_and_retry(self):
        "A failed request keeps its cause; a new request is issued"
        Fapiao = Pool().get('dualrec.fapiao')
        self.set_up(polls=1, fail_tax_ids=[TAX_IDS['INS1']])
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            fapiao = issue(fapiao)
            self.assertEqual(fapiao.state, 'failed')
            self.assertIn('not registered', fapiao.cause)
            self.assertIsNone(fapiao.number)
            self.simulator.fail_tax_ids.clear()
            Fapiao.retry([fapiao])
            new, = Fapiao.search([('state', '=', 'draft')])
            self.assertNotEqual(new.request_no, fapiao.request_no)
            self.assertEqual(new.state, 'draft')
            self.assertEqual(issue(new).state, 'issued')
            self.assertEqual(Fapiao(fapiao.id).state, 'failed')

    @with_transaction()
    def test_callback_before_poll(self):
        "The callback makes us read the result back; paid, it stays"
        Fapiao = Pool().get('dualrec.fapiao')
        self.set_up(polls=None)
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            Fapiao.request([fapiao])
            run_tasks()
            self.assertEqual(Fapiao(fapiao.id).state, 'issuing')
            self.simulator.complete(fapiao.request_no)
        # the callback route runs as root without company
        self.assertIsNone(Fapiao.callback('KP-UNKNOWN'))
        fapiao = Fapiao.callback(fapiao.request_no)
        self.assertEqual(fapiao.state, 'issued')
        self.assertEqual(self.simulator.queries[fapiao.request_no], 1)
        # once the invoice is paid, its fapiao is not reversed
        Invoice = Pool().get('account.invoice')
        with Transaction().set_user(0), set_company(self.company):
            bank, = import_file(self.company,
                statement_journal(self.company), bank_csv([
                        ['2026-12-01', 'SN1', self.parties['INS1'].name, '1',
                            '30.00', '', statement.number]]))
            bank.__class__.validate_statement([bank])
            Invoice.process([statement.invoice])
        self.assertEqual(Invoice(statement.invoice.id).state, 'paid')
        with self.finance(), self.assertRaises(FapiaoError):
            Fapiao.request_red_letter([fapiao], "too late")

    @with_transaction()
    def test_poll_after_timeout(self):
        "Requests left issuing are polled by the cron, also when unreachable"
        Fapiao = Pool().get('dualrec.fapiao')
        self.set_up(polls=None)
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            Fapiao.request([fapiao])
        # the provider is down when the task runs: nothing is lost
        self.simulator.stop()
        url = self.simulator.url
        run_tasks()
        fapiao = Fapiao(fapiao.id)
        self.assertEqual(fapiao.state, 'issuing')
        self.assertIn('unreachable', fapiao.cause)
        # it comes back (same port): the cron polls, the provider never saw
        # the request, so it is sent again
        self.simulator = FapiaoSimulator(today=lambda: TODAY, polls=None)
        port = int(url.rsplit(':', 1)[1])
        self.simulator.start(port=port)
        self.addCleanup(self.simulator.stop)
        Fapiao.poll_issuing()
        self.assertEqual(Fapiao(fapiao.id).state, 'issuing')
        self.assertEqual(list(self.simulator.requests), [fapiao.request_no])
        self.simulator.complete(fapiao.request_no, callback=False)
        Fapiao.poll_issuing()
        fapiao = Fapiao(fapiao.id)
        self.assertEqual(fapiao.state, 'issued')
        self.assertIsNone(fapiao.cause)
        self.assertEqual(self.simulator.sequence, 1)

    @with_transaction()
    def test_red_letter(self):
        "A red-letter fapiao cancels the invoice and reopens the orders"
        pool = Pool()
        Fapiao = pool.get('dualrec.fapiao')
        Invoice = pool.get('account.invoice')
        Statement = pool.get('dualrec.statement')
        self.set_up(polls=1)
        statement = self.invoiced()
        invoice = statement.invoice
        with self.finance():
            blue, = Fapiao.search([('statement', '=', statement.id)])
            with self.assertRaises(FapiaoError):
                Fapiao.request_red_letter([blue], "not issued")
            blue = issue(blue)
            self.assertEqual(blue.state, 'issued')
            # a digital fapiao is not voided, it is reversed
            with self.assertRaises(AccessButtonError):
                Fapiao.void([blue])
            with Transaction().set_context(_check_access=False), \
                    self.assertRaises(FapiaoError):
                Fapiao.void([blue])
            red, = Fapiao.request_red_letter([blue], "wrong buyer")
            self.assertTrue(red.red)
            self.assertEqual(red.total_amount, Decimal('-30.00'))
            with self.assertRaises(FapiaoError):
                Fapiao.request_red_letter([blue], "twice")
            run_tasks()
            Fapiao.poll([red])
            red = Fapiao(red.id)
            self.assertEqual(red.state, 'issued')
            self.assertEqual(red.confirmation, f'HZ{red.request_no}')
            self.assertNotEqual(red.number, blue.number)
            self.assertEqual(Fapiao(blue.id).state, 'reversed')
            invoice = Invoice(invoice.id)
            self.assertEqual(invoice.state, 'cancelled')
            credit, = Invoice.search([
                    ('type', '=', 'out'), ('total_amount', '<', 0)])
            self.assertEqual(credit.total_amount, -invoice.total_amount)
            self.assertEqual(credit.tax_amount, -invoice.tax_amount)
            self.assertEqual(credit.state, 'posted')
            statement = Statement(statement.id)
            self.assertEqual(statement.state, 'confirmed')
            self.assertIsNone(statement.invoice)
            self.assertEqual({l.order.state for l in statement.lines},
                {'confirmed'})
            # invoiced again, with a new request
            Statement.create_invoice([statement])
            statement = Statement(statement.id)
            self.assertEqual(statement.state, 'invoiced')
            new, = Fapiao.search([('invoice', '=', statement.invoice.id)])
            self.assertEqual(new.state, 'draft')

    @with_transaction()
    def test_void_paper(self):
        "A paper fapiao is voided: the statement and its orders reopen"
        pool = Pool()
        Fapiao = pool.get('dualrec.fapiao')
        Statement = pool.get('dualrec.statement')
        self.set_up(polls=1)
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            fapiao.kind = 'paper_normal'
            fapiao.save()
            fapiao = issue(fapiao)
            self.assertEqual(fapiao.state, 'issued')
            self.assertEqual(len(fapiao.number), 8)
            self.assertEqual(len(fapiao.code), 12)
            Fapiao.void([fapiao])
            self.assertEqual(Fapiao(fapiao.id).state, 'voided')
            self.assertEqual(
                self.simulator.statuses[fapiao.request_no].state, 'voided')
            statement = Statement(statement.id)
            self.assertEqual(statement.state, 'confirmed')
            self.assertEqual({l.order.state for l in statement.lines},
                {'confirmed'})

    @with_transaction()
    def test_checks_before_sending(self):
        "What the provider would refuse is refused before it is sent"
        pool = Pool()
        Fapiao = pool.get('dualrec.fapiao')
        Template = pool.get('product.template')
        self.set_up(polls=1)
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            for field, value, text in [
                    ('buyer_name', '保' * 51, 'GBK'),
                    ('buyer_name', 'Bad 😀 name', '😀'),
                    ('remark', '备' * 116, 'GBK'),
                    ('buyer_tax_id', '91440300MA5D000016', 'credit code'),
                    ]:
                with self.subTest(field=field, value=value):
                    good = getattr(fapiao, field)
                    Fapiao.write([fapiao], {field: value})
                    with self.assertRaises(FapiaoError) as cm:
                        Fapiao.request([Fapiao(fapiao.id)])
                    self.assertIn(text, cm.exception.message)
                    self.assertEqual(Fapiao(fapiao.id).state, 'draft')
                    Fapiao.write([fapiao], {field: good})
            # at the limit: 50 GBK characters of 2 bytes are 100 bytes
            Fapiao.write([fapiao], {'buyer_name': '保' * 50})
            fapiao.check_request()
        template = statement.lines[0].order.lines[0].product.template
        Template.write([template], {'fapiao_tax_code': None})
        with self.finance():
            with self.assertRaises(FapiaoError):
                Fapiao.request([Fapiao(fapiao.id)])
        with self.assertRaises(FapiaoError):
            Template.write([template], {'fapiao_tax_code': '30402'})
        self.assertEqual(self.simulator.issue_calls, 0)

    @with_transaction()
    def test_manual(self):
        "Finance issues in the tax bureau's platform and enters the fapiao"
        pool = Pool()
        Fapiao = pool.get('dualrec.fapiao')
        Enter = pool.get('dualrec.fapiao.enter', type='wizard')
        self.set_up(provider='manual')
        statement = self.invoiced()
        with self.finance():
            fapiao, = Fapiao.search([('statement', '=', statement.id)])
            Fapiao.request([fapiao])
            fapiao = Fapiao(fapiao.id)
            self.assertEqual((fapiao.state, fapiao.provider),
                ('issuing', 'manual'))
            with Transaction().set_context(active_model='dualrec.fapiao',
                    active_id=fapiao.id, active_ids=[fapiao.id]):
                session_id, _, _ = Enter.create()
                wizard = Enter(session_id)
                wizard.start.number = '26992000000000000001'
                wizard.start.code = None
                wizard.start.issue_date = TODAY
                wizard.start.confirmation = None
                wizard.start.xml = b'<xml/>'
                wizard.start.ofd = wizard.start.pdf = None
                with self.assertRaises(FapiaoError):
                    wizard.transition_enter()
                wizard.start.number = '26442000000000000001'
                wizard.transition_enter()
            fapiao = Fapiao(fapiao.id)
            self.assertEqual(fapiao.state, 'issued')
            self.assertEqual(fapiao.number, '26442000000000000001')

    @with_transaction()
    def test_supplier_fapiao(self):
        "The supplier's fapiao is registered when it matches the invoice"
        pool = Pool()
        Fapiao = pool.get('dualrec.fapiao')
        self.set_up(provider='manual')
        statement = self.invoiced('payable', 'MER1')
        invoice = statement.invoice
        self.assertEqual(invoice.type, 'in')
        self.assertEqual(Fapiao.search([]), [])
        number = '26112000000000000123'
        with self.finance():
            for kwargs in [
                    {'total_amount': invoice.total_amount + 1},
                    {'number': '2611200000000000012'},
                    {'seller_tax_id': TAX_IDS['INS1']},
                    ]:
                with self.subTest(**{k: str(v) for k, v in kwargs.items()}):
                    values = dict({'number': number,
                            'total_amount': invoice.total_amount,
                            'seller_tax_id': TAX_IDS['MER1']}, **kwargs)
                    with self.assertRaises(FapiaoError):
                        Fapiao.register(invoice, 'digital_special',
                            values['number'], TODAY, values['total_amount'],
                            invoice.tax_amount,
                            seller_tax_id=values['seller_tax_id'])
            self.assertEqual(Fapiao.search([]), [])
            fapiao = Fapiao.register(invoice, 'digital_special', number,
                TODAY, invoice.total_amount, invoice.tax_amount,
                seller_tax_id=TAX_IDS['MER1'], file_name='fp.xml',
                data=b'<xml/>')
            self.assertEqual((fapiao.direction, fapiao.state),
                ('in', 'issued'))
            self.assertEqual(fapiao.statement, statement)
            with self.assertRaises(FapiaoError):
                Fapiao.register(invoice, 'digital_special', number, TODAY,
                    invoice.total_amount, invoice.tax_amount)

    @with_transaction()
    def test_access(self):
        "Finance works the fapiao, managers read them, others see none"
        Fapiao = Pool().get('dualrec.fapiao')
        self.set_up(provider='manual')
        self.invoiced()
        with set_company(self.company):
            with as_user(self.users['finance']):
                fapiao, = Fapiao.search([])
                # made by finance's actions, never by hand
                with self.assertRaises(AccessError):
                    Fapiao.copy([fapiao])
            with as_user(self.users['manager']):
                self.assertEqual(len(Fapiao.search([])), 1)
                with self.assertRaises(AccessError):
                    Fapiao.write([Fapiao(fapiao.id)], {'remark': 'x'})
                with self.assertRaises(AccessButtonError):
                    Fapiao.request([Fapiao(fapiao.id)])
            for role in ['sales', 'reviewer', 'orders']:
                with as_user(self.users[role]):
                    with self.assertRaises(AccessError):
                        Fapiao.search([])


@contextlib.contextmanager
def _finance(company, user):
    "Act as the finance user of company (with access checks)."
    with set_company(company), as_user(user):
        yield

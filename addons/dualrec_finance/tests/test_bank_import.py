# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import csv
import io
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .tools import TODAY, as_user, set_company, set_up_finance

HEADER = ['交易日期', '交易流水号', '对方户名', '对方账号', '收入金额', '支出金额',
    '摘要']


def bank_csv(rows):
    "Return a GBK bank export with a title row and rows under HEADER."
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([['账户交易明细'], HEADER] + rows)
    return out.getvalue().encode('gbk')


def account(code_or_type):
    Account = Pool().get('account.account')
    if isinstance(code_or_type, str):
        clause = [(f'type.{code_or_type}', '=', True)]
    else:
        clause = [('code', 'in', code_or_type)]
    return Account.search(clause + [('closed', '!=', True)], limit=1)[0]


def post_invoice(company, party, amount, type_='out', description=None):
    "Create and post an invoice of one line of amount for party."
    pool = Pool()
    Invoice = pool.get('account.invoice')
    Address = pool.get('party.address')
    if not party.addresses:
        Address.create([{'party': party.id}])
    invoice = Invoice(company=company, type=type_, party=party,
        invoice_date=TODAY, description=description)
    invoice.on_change_type()
    invoice.on_change_party()
    invoice.lines = [pool.get('account.invoice.line')(
            company=company, type='line', quantity=1,
            unit_price=Decimal(amount), description="Service",
            account=account('revenue' if type_ == 'out' else 'expense'))]
    invoice.save()
    Invoice.post([invoice])
    return invoice


def statement_journal(company):
    "Return a statement journal (validation by amount) on the bank account."
    pool = Pool()
    Journal = pool.get('account.journal')
    StatementJournal = pool.get('account.statement.journal')
    journal, = Journal.search([('type', '=', 'statement')], limit=1)
    bank = account(['1002', '1.1.1'])
    result = StatementJournal(name="ICBC 1234", journal=journal,
        account=bank, currency=company.currency, company=company,
        validation='amount')
    result.save()
    return result


def import_file(company, journal, data):
    "Run account.statement.import with the dualrec_bank format."
    pool = Pool()
    ImportStatement = pool.get('account.statement.import', type='wizard')
    session_id, _, _ = ImportStatement.create()
    wizard = ImportStatement(session_id)
    wizard.start.company = company
    wizard.start.file_ = data
    wizard.start.file_format = 'dualrec_bank'
    wizard.start.journal = journal
    _, data = wizard.do_import_({'views': []})
    ImportStatement.delete(session_id)
    Statement = pool.get('account.statement')
    return Statement.browse(data['res_id'])


class BankImportTestCase(_DBTestCase):
    "Test the import of bank exports into statements"
    module = 'dualrec_finance'

    def set_up(self):
        company, _, users, parties, _ = set_up_finance()
        with Transaction().set_user(0), set_company(company):
            invoices = {
                'ref': post_invoice(company, parties['INS1'], '1000.00',
                    description='ST20261130001'),
                'exact': post_invoice(company, parties['INS1'], '500.00'),
                'partial': post_invoice(company, parties['INS2'], '800.00'),
                }
            journal = statement_journal(company)
        return company, users, parties, invoices, journal

    def rows(self, parties):
        return [
            ['2026-11-30', 'SN001', '某某代付', '622201', '1,000.00', '',
                '代付货款ST20261130001'],
            ['2026/11/30', 'SN002', parties['INS1'].name, '622202', '500.00',
                '', '货款'],
            ['2026/11/30', 'SN002', parties['INS1'].name, '622202', '500.00',
                '', '货款'],
            ['20261130', 'SN003', parties['INS2'].name, '622203', '300.00',
                '', '部分付款'],
            ['2026-11-30', 'SN004', '陌生公司', '622204', '99.00', '', '不明'],
            ]

    @with_transaction()
    def test_import_matches_and_posting_pays(self):
        "Reference, exact and partial payments match; posting pays."
        pool = Pool()
        Statement = pool.get('account.statement')
        Line = pool.get('account.statement.line')
        company, users, parties, invoices, journal = self.set_up()
        with Transaction().set_user(0), set_company(company):
            statement, = import_file(company, journal,
                bank_csv(self.rows(parties)))
            origins = statement.origins
            self.assertEqual([o.number for o in origins],
                ['SN001', 'SN002', 'SN003', 'SN004'])
            self.assertEqual(
                [o.information['dualrec_match'] for o in origins],
                ['reference', 'exact', 'partial', 'unmatched'])
            self.assertEqual(
                [[l.related_to for l in o.lines] for o in origins],
                [[invoices['ref']], [invoices['exact']],
                    [invoices['partial']], []])
            self.assertEqual(statement.total_amount, Decimal('1899.00'))

            # finance allocates the unknown payment, then validates and posts
            Line.create([{'statement': statement.id,
                        'origin': origins[3].id, 'date': TODAY,
                        'amount': Decimal('99.00'),
                        'account': account('revenue').id}])
            Statement.validate_statement([statement])
            Statement.post([statement])
            for key in invoices:
                invoices[key] = invoices[key].__class__(invoices[key].id)
            # the invoices are paid by reconciliation (Tryton's queue then
            # moves them to 'paid' after the commit)
            self.assertTrue(invoices['ref'].reconciled)
            self.assertEqual(invoices['ref'].amount_to_pay, Decimal(0))
            self.assertTrue(invoices['exact'].reconciled)
            self.assertEqual(invoices['partial'].state, 'posted')
            self.assertEqual(invoices['partial'].amount_to_pay,
                Decimal('500.00'))

    @with_transaction()
    def test_reimport_is_duplicate(self):
        "Importing the same file again adds no origin."
        company, users, parties, invoices, journal = self.set_up()
        with Transaction().set_user(0), set_company(company):
            data = bank_csv(self.rows(parties))
            import_file(company, journal, data)
            statement, = import_file(company, journal, data)
            self.assertEqual(statement.origins, ())
            self.assertEqual(statement.total_amount, Decimal('0'))

    @with_transaction()
    def test_bad_rows_refused(self):
        "A file with an unreadable row is refused with its row number."
        from trytond.exceptions import UserError
        company, users, parties, invoices, journal = self.set_up()
        with Transaction().set_user(0), set_company(company):
            rows = self.rows(parties) + [
                ['2026-13-45', 'SN9', 'x', '', '1', '', '']]
            with self.assertRaises(UserError) as context:
                import_file(company, journal, bank_csv(rows))
            self.assertIn('Row 8', str(context.exception))

    @with_transaction()
    def test_sales_cannot_read_statement_lines(self):
        "A sales user cannot read bank statement lines."
        pool = Pool()
        Line = pool.get('account.statement.line')
        company, users, parties, invoices, journal = self.set_up()
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Line.search([])

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The finance demo: the demo company's Chinese chart of accounts and fiscal
year, and reconciliation statements in each state of the work — one
invoiced, its fapiao issued and paid through an imported bank export, one
invoiced with its fapiao request to send, one confirmed and one disputed —
for two insurers and two merchants."""
import datetime as dt

from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError

from dualrec.bank import BankLine

from .accounting import set_up_company_accounting
from .payment import create_payment_journal


def loaded():
    "Tell whether the demo statements exist already (through proteus)."
    from proteus import Model
    Statement = Model.get('dualrec.statement')
    return bool(Statement.find([], limit=1))


def load(password=None):
    """Load the finance demo into the database proteus is connected to, in
    a transaction of its own, on the order center's demo company."""
    from proteus.config import get_config

    from trytond.modules.dualrec_orders.demo import COMPANY
    database = get_config().database_name
    extras = {}
    while True:
        with Transaction().start(database, 0, **extras) as transaction:
            try:
                Company = Pool().get('company.company')
                company, = Company.search([('party.name', '=', COMPANY)])
                load_data(company)
                transaction.commit()
                return
            except TransactionError as error:
                # the strict sequences of invoices lock their table: start
                # again with it locked, as the worker does
                transaction.rollback()
                error.fix(extras)


def load_data(company):
    """Set company's accounting up (when it has no fiscal year), give it
    its payment journal and create the demo statements; return them."""
    pool = Pool()
    FiscalYear = pool.get('account.fiscalyear')
    Date = pool.get('ir.date')
    with Transaction().set_context(company=company.id,
            companies=[company.id]):
        today = Date.today()
        if not FiscalYear.search([('company', '=', company.id)], limit=1):
            set_up_company_accounting(company, today)
            if today.month == 1:
                from .accounting import create_fiscalyear
                create_fiscalyear(company, today.year - 1)
        create_payment_journal(company)
        return create_statements(company, today)


def _ensure_address(parties):
    Address = Pool().get('party.address')
    Address.create([{'party': p.id} for p in parties if not p.addresses])


def create_statements(company, today):
    "Build the statements of the last 90 days and work them on."
    pool = Pool()
    Statement = pool.get('dualrec.statement')
    Line = pool.get('dualrec.statement.line')
    date_from = today - dt.timedelta(days=90)
    receivable = Statement.build(company, 'receivable', date_from, today)
    payable = Statement.build(company, 'payable', date_from, today)
    _ensure_address([s.counterparty for s in receivable + payable])
    # the largest two of each direction are worked on
    receivable = sorted(receivable, key=lambda s: -s.total_amount)[:2]
    payable = sorted(payable, key=lambda s: -s.total_amount)[:2]
    chosen = receivable + payable
    paid, invoiced, confirmed, disputed = (chosen + [None] * 4)[:4]
    for statement in filter(None, chosen):
        Statement.send([statement])
    for statement in filter(None, [paid, invoiced, confirmed]):
        Statement.confirm_agreed([statement], statement.total_amount)
    for statement in filter(None, [paid, invoiced]):
        Statement.create_invoice([statement])
    if disputed is not None:
        line = disputed.lines[0]
        Line.write([line], {'disputed': True,
                'reason': "商户称该笔服务已退款"})
    if paid is not None:
        issue_fapiao(company, Statement(paid.id), today)
        pay_by_bank(company, Statement(paid.id), today)
    return Statement.browse([s.id for s in chosen if s])


def _ensure_fapiao_data(invoice):
    """Give the buyer a tax ID and the services a tax classification
    code where they have none: a fapiao needs them."""
    from stdnum.cn import uscc
    pool = Pool()
    Identifier = pool.get('party.identifier')
    Template = pool.get('product.template')
    party = invoice.party
    if not party.tax_identifier:
        base = f'91440300MA{party.id:07d}'
        Identifier.create([{'party': party.id, 'type': 'cn_vat',
                    'code': base + uscc.calc_check_digit(base)}])
    templates = {l.product.template for l in invoice.line_lines
        if l.product and not l.product.template.fapiao_tax_code}
    if templates:
        # 3049900000000000000: other modern services (其他现代服务)
        Template.write(list(templates),
            {'fapiao_tax_code': '3049900000000000000'})


def issue_fapiao(company, statement, today):
    """Request the fapiao of statement's invoice and enter it as finance
    does with the manual provider (the demo reaches no provider)."""
    Fapiao = Pool().get('dualrec.fapiao')
    _ensure_fapiao_data(statement.invoice)
    fapiao, = Fapiao.search([('invoice', '=', statement.invoice.id)])
    Fapiao.write([fapiao], {
            'buyer_tax_id': statement.counterparty.tax_identifier.code})
    Fapiao.request([fapiao])
    Fapiao(fapiao.id).issue(f'{today:%y}442000000{fapiao.id:09d}', today)


def pay_by_bank(company, statement, today):
    """Import the counterparty's payment of statement as a bank line, post
    the bank statement and let the invoice be paid."""
    pool = Pool()
    Journal = pool.get('account.journal')
    StatementJournal = pool.get('account.statement.journal')
    BankStatement = pool.get('account.statement')
    Invoice = pool.get('account.invoice')
    from .accounting import account_by_code
    journal, = Journal.search([('type', '=', 'statement')], limit=1)
    bank_journal = StatementJournal(name="工商银行 基本户 1234",
        journal=journal, account=account_by_code(company, '1002'),
        currency=company.currency, company=company, validation='amount')
    bank_journal.save()
    bank = BankStatement.dualrec_from_bank(bank_journal, [BankLine(
                row=2, date=today, name=statement.counterparty.name,
                amount=statement.invoice.total_amount, account='',
                memo=f'支付{statement.number}对账款', serial='DEMO0001')])
    BankStatement.validate_statement([bank])
    BankStatement.post([bank])
    Invoice.process([statement.invoice])

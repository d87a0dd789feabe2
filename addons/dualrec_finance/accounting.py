# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Setting a company up for Chinese accounting: the chart of accounts, the
fiscal year with monthly periods and the invoice sequences."""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from .exceptions import ChartLookupError

CHART = 'dualrec_finance.account_template_root_cn'


def create_chart(company, chart=CHART):
    "Run Tryton's Create Chart wizard for company with the chart template."
    pool = Pool()
    AccountTemplate = pool.get('account.account.template')
    Account = pool.get('account.account')
    ModelData = pool.get('ir.model.data')
    CreateChart = pool.get('account.create_chart', type='wizard')
    module, xml_id = chart.split('.')
    template = AccountTemplate(ModelData.get_id(module, xml_id))
    session_id, _, _ = CreateChart.create()
    wizard = CreateChart(session_id)
    wizard.account.account_template = template
    wizard.account.company = company
    wizard.transition_create_account()
    properties = wizard.states['properties']
    for name, value in properties.get_defaults(
            wizard, 'properties',
            list(wizard.properties._fields.keys())).items():
        if name in wizard.properties._fields:
            setattr(wizard.properties, name, value)
    for name, kind in [('account_receivable', 'receivable'),
            ('account_payable', 'payable')]:
        if not getattr(wizard.properties, name):
            account, = Account.search([
                    ('type.' + kind, '=', True),
                    ('party_required', '=', True),
                    ('company', '=', company.id),
                    ], limit=1)
            setattr(wizard.properties, name, account)
    # the default accounts of product categories: services without a
    # category of their own are revenue of main business and its costs
    for name, code in [('category_account_revenue', '6001'),
            ('category_account_expense', '6401')]:
        if (name in wizard.properties._fields
                and not getattr(wizard.properties, name, None)):
            accounts = Account.search([('code', '=', code),
                    ('company', '=', company.id)], limit=1)
            if accounts:
                setattr(wizard.properties, name, accounts[0])
    wizard.transition_create_properties()
    CreateChart.delete(session_id)


def account_by_code(company, code):
    "Return the account of company with code (e.g. '1002')."
    Account = Pool().get('account.account')
    accounts = Account.search([
            ('company', '=', company.id),
            ('code', '=', code),
            ])
    if len(accounts) != 1:
        raise ChartLookupError(gettext(
                'dualrec_finance.msg_chart_account_missing',
                company=company.rec_name, count=len(accounts), code=code))
    return accounts[0]


def tax_for_rate(company, rate, kind='sale'):
    """Return the VAT of company (created by Create Chart from the ASBE
    templates) of type percentage with rate (Decimal or str like '0.06') for
    kind 'sale' or 'purchase', as told by the kind of the tax group."""
    if kind not in {'sale', 'purchase'}:
        raise ValueError(f"kind must be 'sale' or 'purchase', not {kind!r}")
    Tax = Pool().get('account.tax')
    rate = Decimal(str(rate))
    taxes = [t for t in Tax.search([
                ('company', '=', company.id),
                ('parent', '=', None),
                ('type', '=', 'percentage'),
                ('group.kind', 'in', [kind, 'both']),
                ], order=[('sequence', 'ASC'), ('id', 'ASC')])
        if t.rate == rate]
    # a tax of the kind's own group over one of both
    taxes.sort(key=lambda t: t.group.kind != kind)
    if not taxes:
        raise ChartLookupError(gettext(
                'dualrec_finance.msg_chart_tax_missing',
                company=company.rec_name, kind=kind, rate=rate))
    return taxes[0]


def service_account(company, kind):
    """Return the default revenue (kind 'sale') or expense ('purchase')
    account of product categories of company: the account of a service
    whose product has no account category."""
    Configuration = Pool().get('account.configuration')
    with Transaction().set_context(company=company.id):
        configuration = Configuration(1)
        if kind == 'sale':
            return configuration.default_category_account_revenue
        return configuration.default_category_account_expense


def create_fiscalyear(company, year):
    """Create the fiscal year of company for the calendar year with its
    monthly periods and move and invoice sequences."""
    pool = Pool()
    Sequence = pool.get('ir.sequence.strict')
    SequenceType = pool.get('ir.sequence.type')
    FiscalYear = pool.get('account.fiscalyear')
    InvoiceSequence = pool.get('account.fiscalyear.invoice_sequence')
    ModelData = pool.get('ir.model.data')

    def sequence(type_xml_id, module, name):
        type_ = SequenceType(ModelData.get_id(module, type_xml_id))
        return Sequence.create([{'name': name, 'sequence_type': type_.id,
                    'company': company.id}])[0]
    move_sequence = sequence('sequence_type_account_move', 'account',
        f'{year}')
    invoice_sequence = sequence('sequence_type_account_invoice',
        'account_invoice', f'{year}')
    fiscalyear = FiscalYear(name=f'{year}', company=company,
        start_date=dt.date(year, 1, 1), end_date=dt.date(year, 12, 31),
        move_sequence=move_sequence)
    fiscalyear.invoice_sequences = [InvoiceSequence(
            in_invoice_sequence=invoice_sequence,
            in_credit_note_sequence=invoice_sequence,
            out_invoice_sequence=invoice_sequence,
            out_credit_note_sequence=invoice_sequence)]
    fiscalyear.save()
    FiscalYear.create_period([fiscalyear])
    return fiscalyear


def set_up_company_accounting(company, today):
    """Give company its chart of accounts and the fiscal year of today.
    Run as root inside set_company(company)."""
    create_chart(company)
    return create_fiscalyear(company, today.year)


def set_invoice_taxes(invoice, expected):
    """Write the amounts of invoice's tax lines to expected ({tax id:
    amount}) where they differ: the VAT of a statement is split per order
    and may differ by a few fen from what the invoice computes."""
    InvoiceTax = Pool().get('account.invoice.tax')
    invoice = invoice.__class__(invoice.id)
    to_write = []
    for tax in invoice.taxes:
        if tax.tax and tax.amount != expected.get(tax.tax.id, tax.amount):
            to_write.extend(([tax], {'amount': expected[tax.tax.id]}))
    if to_write:
        InvoiceTax.write(*to_write)

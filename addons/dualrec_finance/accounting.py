# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Setting a company up for Chinese accounting: the chart of accounts, the
fiscal year with monthly periods and the invoice sequences."""
import datetime as dt

from trytond.pool import Pool

CHART = 'account.account_template_root_en'  # FIXME: the ASBE chart


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
    wizard.transition_create_properties()
    CreateChart.delete(session_id)


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

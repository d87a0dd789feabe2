# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A statement as a spreadsheet for the counterparty, and as a printable
document with its total in capitals."""
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.report import Report

from dualrec.sheets.export import Column, Sheet, write_workbook


class StatementReport(Report):
    __name__ = 'dualrec.statement.report'


class StatementXlsx(Report):
    "The statement's summary and lines as xlsx."
    __name__ = 'dualrec.statement.xlsx'

    @classmethod
    def _execute(cls, records, header, data, action):
        return 'xlsx', cls.render(records[0])

    @classmethod
    def render(cls, statement):
        "Return the xlsx bytes of statement."
        pool = Pool()
        Statement = pool.get('dualrec.statement')
        Line = pool.get('dualrec.statement.line')
        Order = pool.get('dualrec.order')
        defs = Statement.fields_get()
        line_defs = Line.fields_get()
        order_defs = Order.fields_get(['number', 'external_ref'])

        def label(name):
            return defs[name]['string']
        summary = [
            (label('number'), statement.number),
            (label('company'), statement.company.rec_name),
            (label('counterparty'), statement.counterparty.rec_name),
            (label('direction'), statement.direction_string),
            (label('date_from'), statement.date_from),
            (label('date_to'), statement.date_to),
            (label('state'), statement.state_string),
            (label('untaxed_amount'), statement.untaxed_amount),
            (label('tax_amount'), statement.tax_amount),
            (label('total_amount'), statement.total_amount),
            (label('amount_in_words'), statement.amount_in_words),
            (label('agreed_total'), statement.agreed_total),
            ]
        columns = [
            Column(order_defs['number']['string'], 'text'),
            Column(order_defs['external_ref']['string'], 'text'),
            Column(line_defs['order_date']['string'], 'date'),
            Column(line_defs['order_type']['string'], 'text'),
            Column(line_defs['kind']['string'], 'text'),
            Column(line_defs['untaxed_amount']['string'], 'money'),
            Column(line_defs['tax_amount']['string'], 'money'),
            Column(line_defs['total_amount']['string'], 'money'),
            Column(line_defs['disputed']['string'], 'text'),
            Column(line_defs['reason']['string'], 'text'),
            ]

        def rows():
            for line in statement.lines:
                yield [line.order.number, line.order.external_ref,
                    line.order.date, line.order.type_.rec_name,
                    line.kind_string, line.untaxed_amount, line.tax_amount,
                    line.total_amount,
                    gettext('dualrec_finance.msg_yes') if line.disputed
                    else '', line.reason]
        return write_workbook([
                Sheet(gettext('dualrec_finance.msg_sheet_statement'), [
                        Column(gettext('dualrec_finance.msg_sheet_field'),
                            'text'),
                        Column(gettext('dualrec_finance.msg_sheet_value'),
                            'auto'),
                        ], summary),
                Sheet(gettext('dualrec_finance.msg_sheet_lines'), columns,
                    rows()),
                ])

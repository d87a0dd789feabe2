# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Bank exports (银行流水) imported into statements and matched to open
receivable invoices, through account_statement's import wizard with the
file format 'dualrec_bank'."""
from decimal import Decimal

from dualrec import bank as bank_file
from dualrec.errors import CodedError

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from .exceptions import BankImportError

COLUMN_FIELDS = [(f'bank_{name}_column', name)
    for name in bank_file.DEFAULT_COLUMNS]
_HELP = "The header text of the column in the bank export (empty: %s)."


class StatementJournal(metaclass=PoolMeta):
    __name__ = 'account.statement.journal'

    bank_date_column = fields.Char("Date Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['date'])
    bank_name_column = fields.Char("Counterparty Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['name'])
    bank_account_column = fields.Char("Counterparty Account Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['account'])
    bank_credit_column = fields.Char("Income Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['credit'])
    bank_debit_column = fields.Char("Expense Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['debit'])
    bank_memo_column = fields.Char("Memo Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['memo'])
    bank_serial_column = fields.Char("Serial Number Column",
        help=_HELP % bank_file.DEFAULT_COLUMNS['serial'])

    def get_bank_columns(self):
        "Return the column mapping of read_bank_file for this journal."
        return {name: getattr(self, field) for field, name in COLUMN_FIELDS
            if getattr(self, field)}


class ImportStatementStart(metaclass=PoolMeta):
    __name__ = 'account.statement.import.start'

    journal = fields.Many2One('account.statement.journal', "Journal",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'invisible': Eval('file_format') != 'dualrec_bank',
            'required': Eval('file_format') == 'dualrec_bank',
            },
        help="The statement journal of the bank account the file comes from.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.file_format.selection.append(
            ('dualrec_bank', "Bank Export (CSV/XLSX)"))


class ImportStatement(metaclass=PoolMeta):
    __name__ = 'account.statement.import'

    def parse_dualrec_bank(self, encoding=None):
        "Yield the statement of the bank export, its lines matched."
        pool = Pool()
        Statement = pool.get('account.statement')
        journal = self.start.journal
        try:
            lines, bad = bank_file.read_bank_file(
                self.start.file_, journal.get_bank_columns())
        except CodedError as error:
            raise BankImportError(gettext(
                    'dualrec_finance.msg_bank_file_unreadable',
                    reason=error.message)) from error
        if bad:
            raise BankImportError(gettext(
                    'dualrec_finance.msg_bank_file_bad_rows',
                    count=len(bad),
                    rows='\n'.join(b.reason for b in bad[:20])))
        yield Statement.dualrec_from_bank(journal, lines)


class Statement(metaclass=PoolMeta):
    __name__ = 'account.statement'

    @classmethod
    def dualrec_from_bank(cls, journal, lines):
        """Create and return the statement of journal with one origin per
        bank line (lines of bank_file.BankLine) not imported before, those
        matched to an open receivable invoice with their statement line."""
        pool = Pool()
        Line = pool.get('account.statement.line')
        statement = cls(company=journal.company, journal=journal)
        origins, matched = [], []
        for result in cls._dualrec_match(journal, lines):
            if result.kind == 'duplicate':
                continue
            origin = cls._dualrec_origin(statement, result)
            origins.append(origin)
            if result.item is not None:
                matched.append((len(origins) - 1, result))
        statement.origins = origins
        dates = [o.date for o in origins] or [pool.get('ir.date').today()]
        statement.date = max(dates)
        statement.name = f'{journal.name} {min(dates)}~{max(dates)}'
        total = sum((o.amount for o in origins), Decimal(0))
        statement.total_amount = total
        statement.number_of_lines = len(origins)
        start = journal.last_amount or Decimal(0)
        statement.start_balance = start
        statement.end_balance = start + total
        statement.save()
        # the lines need the saved statement and origins
        origins = cls(statement.id).origins
        Line.save([cls._dualrec_line(statement, origins[index], result)
                for index, result in matched])
        return statement

    @classmethod
    def _dualrec_seen(cls, journal, lines):
        "Return the line_key()s of the origins already imported into journal."
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        if not lines:
            return set()
        dates = [l.date for l in lines]
        seen = set()
        for origin in Origin.search([
                    ('statement.journal', '=', journal.id),
                    ('statement.state', '!=', 'cancelled'),
                    ('date', '>=', min(dates)),
                    ('date', '<=', max(dates)),
                    ]):
            information = origin.information or {}
            seen.add(bank_file.line_key(bank_file.BankLine(
                        row=0, date=origin.date,
                        name=information.get('dualrec_counterparty', ''),
                        amount=origin.amount, memo=origin.description or '',
                        serial=origin.number or '')))
        return seen

    @classmethod
    def _dualrec_open_items(cls, journal):
        """Return (open items, invoices by id): the posted customer invoices
        of the journal's company with an amount to pay."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        invoices = Invoice.search([
                ('company', '=', journal.company.id),
                ('type', '=', 'out'),
                ('state', '=', 'posted'),
                ('currency', '=', journal.currency.id),
                ])
        items = []
        for invoice in invoices:
            amount = invoice.amount_to_pay
            if amount <= 0:
                continue
            references = [invoice.number, invoice.reference]
            references += bank_file.references_in(invoice.description)
            items.append(bank_file.OpenItem(invoice.id,
                    (invoice.party.name,), amount,
                    tuple(r for r in references if r)))
        return items, {i.id: i for i in invoices}

    @classmethod
    def _dualrec_match(cls, journal, lines):
        "Return the bank_file.Match of each line, items carrying invoices."
        items, invoices = cls._dualrec_open_items(journal)
        matches = bank_file.match(lines, items,
            seen=cls._dualrec_seen(journal, lines))
        return [bank_file.Match(m.line, m.kind, invoices.get(m.item))
            for m in matches]

    @classmethod
    def _dualrec_origin(cls, statement, result):
        """Return the origin of a bank line (result: a Match whose item is
        the invoice or None)."""
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        line = result.line
        origin = Origin(date=line.date,
            amount=line.amount, number=line.serial or None,
            description=line.memo or None,
            information={
                'dualrec_counterparty': line.name,
                'dualrec_counterparty_account': line.account,
                'dualrec_match': result.kind,
                })
        if result.item is not None:
            origin.party = result.item.party
        return origin

    @classmethod
    def _dualrec_line(cls, statement, origin, result):
        "Return the statement line of origin paying the invoice of result."
        pool = Pool()
        Line = pool.get('account.statement.line')
        invoice = result.item
        return Line(statement=statement, origin=origin, date=origin.date,
            amount=origin.amount, party=invoice.party,
            account=invoice.account, related_to=invoice,
            description=origin.description)

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Bank exports (银行流水) read as lines, and the lines matched to open
items (receivable invoices) without any framework.

``read_bank_file`` reads the CSV (UTF-8 or GBK, with or without BOM) or xlsx
a Chinese bank exports: title rows before the header are skipped, columns
are found by their header text (``DEFAULT_COLUMNS``, configurable), amounts
are Decimal (thousands separators allowed), dates of several formats.
``match`` pairs each line with at most one open item: by a reference number
found in the memo first, else by exact amount and counterparty name, else as
a partial payment of the single open item of that counterparty that is
larger; a line seen before (same serial number, or same date, amount,
counterparty and memo) is a duplicate and is not matched twice.  Both run in
linear time: the open items are indexed by reference, by (name, amount) and
by name."""
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import CodedError
from .money import MoneyError, round_fen, to_decimal
from .sheets.files import read_rows
from .sheets.orders import RowError, parse_date

#: field → header text of the common Chinese bank export
DEFAULT_COLUMNS = {
    'date': '交易日期',
    'name': '对方户名',
    'account': '对方账号',
    'credit': '收入金额',
    'debit': '支出金额',
    'memo': '摘要',
    'serial': '交易流水号',
    }
#: fields that must be found in the header
REQUIRED = ('date', 'name', 'credit', 'debit')
#: rows looked at for the header before giving up
HEADER_SCAN = 30
ZERO = Decimal('0.00')

REFERENCE_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_/\-]{2,}')
_NAME_TRANS = str.maketrans({'（': '(', '）': ')', '\u3000': ' '})


class BankFileError(CodedError):
    "A bank file that cannot be read at all (no header, bad encoding)."


@dataclass(frozen=True)
class BankLine:
    """One transaction of a bank export.  amount is signed: income
    (收入) positive, expense (支出) negative, in yuan to the fen."""
    row: int
    date: object
    name: str
    amount: Decimal
    account: str = ''
    memo: str = ''
    serial: str = ''


@dataclass(frozen=True)
class BadRow:
    "A row that could not be read: its 1-based row number and why."
    row: int
    code: str
    reason: str


@dataclass
class OpenItem:
    """Something owed to us: id (opaque), names of the counterparty (its
    name and aliases as printed by banks), the open amount and the
    reference numbers (invoice, statement numbers) a payer may quote."""
    id: object
    names: tuple
    amount: Decimal
    references: tuple = ()
    remaining: Decimal = field(default=None, repr=False)

    def __post_init__(self):
        self.amount = round_fen(self.amount)
        if self.remaining is None:
            self.remaining = self.amount


@dataclass(frozen=True)
class Match:
    """The outcome for one line: kind is 'reference', 'exact', 'partial',
    'duplicate' or 'unmatched'; item the matched OpenItem id (or None)."""
    line: BankLine
    kind: str
    item: object = None

    @property
    def matched(self):
        return self.item is not None


def normalize_name(name):
    "Return a counterparty name comparable across banks (spaces, brackets)."
    name = str(name or '').translate(_NAME_TRANS)
    return ''.join(name.split()).upper()


def _cell_text(value):
    if value is None:
        return ''
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _amount(value):
    if value is None or (isinstance(value, str) and not value.strip()):
        return ZERO
    if isinstance(value, str) and value.strip() in {'-', '--'}:
        return ZERO
    return round_fen(to_decimal(value))


def find_header(rows, columns):
    """Return (index of the header row, field → column index) from the first
    HEADER_SCAN rows; raise BankFileError when no row holds the REQUIRED
    headers."""
    for index, row in enumerate(rows[:HEADER_SCAN]):
        texts = [_cell_text(cell) for cell in row]
        positions = {}
        for name, title in columns.items():
            if title in texts:
                positions[name] = texts.index(title)
        if all(name in positions for name in REQUIRED):
            return index, positions
    missing = ', '.join(columns[name] for name in REQUIRED if name in columns)
    raise BankFileError('no_header',
        f"No header row with the columns {missing}", {'columns': missing})


def read_bank_file(data, columns=None):
    """Return (lines, bad rows) of data (bytes of a CSV or xlsx bank
    export).  columns maps the fields of DEFAULT_COLUMNS to header texts
    (missing ones take the default).  Rows without date nor amount (blank,
    footers) are skipped; a row with an unreadable date or amount, or with
    both income and expense, is a BadRow."""
    mapping = dict(DEFAULT_COLUMNS)
    mapping.update({k: v for k, v in (columns or {}).items() if v})
    rows = list(read_rows(data))
    start, positions = find_header(rows, mapping)
    lines, bad = [], []

    def cell(row, name):
        index = positions.get(name)
        if index is None or index >= len(row):
            return None
        return row[index]

    for number, row in enumerate(rows[start + 1:], start + 2):
        if not any(_cell_text(c) for c in row):
            continue
        raw_date = cell(row, 'date')
        raw_credit, raw_debit = cell(row, 'credit'), cell(row, 'debit')
        if not _cell_text(raw_date) and not _cell_text(raw_credit) \
                and not _cell_text(raw_debit):
            continue
        try:
            date = parse_date(raw_date)
        except (RowError, ValueError, TypeError):
            bad.append(BadRow(number, 'bad_date',
                    f"Row {number}: unreadable date {raw_date!r}"))
            continue
        try:
            credit, debit = _amount(raw_credit), _amount(raw_debit)
        except MoneyError:
            bad.append(BadRow(number, 'bad_amount',
                    f"Row {number}: unreadable amount "
                    f"{raw_credit!r} / {raw_debit!r}"))
            continue
        if credit and debit:
            bad.append(BadRow(number, 'both_amounts',
                    f"Row {number}: both income and expense"))
            continue
        if not credit and not debit:
            bad.append(BadRow(number, 'no_amount',
                    f"Row {number}: no amount"))
            continue
        lines.append(BankLine(row=number, date=date,
                name=_cell_text(cell(row, 'name')),
                amount=credit - abs(debit),
                account=_cell_text(cell(row, 'account')),
                memo=_cell_text(cell(row, 'memo')),
                serial=_cell_text(cell(row, 'serial'))))
    return lines, bad


def line_key(line):
    """Return the identity of a line for duplicate detection: its serial
    number when the bank gives one, else date, amount, name and memo."""
    if line.serial:
        return ('serial', line.serial)
    return ('line', line.date, line.amount, normalize_name(line.name),
        line.memo)


def references_in(text):
    """Return the upper-cased reference-like tokens of text: runs of at
    least three letters, digits, '-', '/' or '_' holding a digit."""
    return [t.upper() for t in REFERENCE_RE.findall(text or '')
        if any(c.isdigit() for c in t)]


def match(bank_lines, open_items, seen=()):
    """Return one Match per line of bank_lines, in order.  open_items
    (OpenItem) have their remaining decreased as lines are matched, so an
    item is never paid twice; seen holds line_key()s already imported
    before (duplicates).  Only income lines are matched."""
    by_reference = {}
    by_name_amount = defaultdict(list)
    by_name = defaultdict(list)
    for item in open_items:
        for reference in item.references:
            if reference:
                by_reference.setdefault(str(reference).upper(), item)
        for name in {normalize_name(n) for n in item.names if n}:
            by_name_amount[name, item.remaining].append(item)
            by_name[name].append(item)
    seen = set(seen)
    result = []

    def take(line, item, kind):
        item.remaining -= min(item.remaining, line.amount)
        if item.remaining > 0:
            # so that a payment of the rest matches exactly
            for name in {normalize_name(n) for n in item.names if n}:
                by_name_amount[name, item.remaining].append(item)
        result.append(Match(line, kind, item.id))

    for line in bank_lines:
        key = line_key(line)
        if key in seen:
            result.append(Match(line, 'duplicate'))
            continue
        seen.add(key)
        if line.amount <= 0:
            result.append(Match(line, 'unmatched'))
            continue
        item = None
        for reference in references_in(line.memo):
            item = by_reference.get(reference)
            if item is not None and item.remaining > 0:
                break
            item = None
        if item is not None:
            take(line, item, 'reference')
            continue
        name = normalize_name(line.name)
        # items whose remaining changed stay in their old bucket: re-check
        for item in by_name_amount.get((name, line.amount), ()):
            if item.remaining == line.amount:
                break
        else:
            item = None
        if item is not None:
            take(line, item, 'exact')
            continue
        candidates = []
        for item in by_name.get(name, ()):
            if item.remaining > line.amount:
                candidates.append(item)
                if len(candidates) > 1:
                    break
        if len(candidates) == 1:
            take(line, candidates[0], 'partial')
            continue
        result.append(Match(line, 'unmatched'))
    return result

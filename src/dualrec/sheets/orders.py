# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Rows of an order sheet: the header mapped to field keys, each row parsed
into order and line values or refused with a reason, and the rows of one
external reference grouped into one order with several lines.

A reason is a ``(code, params)`` pair; the module that shows it translates
the code.  Codes: ``missing_field`` (field), ``bad_date`` (value),
``bad_amount`` (field, value), ``bad_rate`` (value), ``bad_direction``
(value), ``bad_extension`` (key, value, kind), ``order_mismatch`` (field),
``order_rejected`` (row), ``ref_split`` (ref) and those the caller adds
when it resolves the references.
"""
import datetime as dt

from .. import money
from .files import SheetError

# field key: the header names it is found by (compared case-insensitively)
FIELDS = {
    'external_ref': ('外部单号', 'external reference', 'external ref',
        'external_ref', 'reference'),
    'type': ('订单类型', 'type', 'order type'),
    'counterparty': ('客户', 'counterparty', 'customer', 'party'),
    'date': ('日期', 'date'),
    'product': ('服务', 'service', 'product'),
    'quantity': ('数量', 'quantity', 'qty'),
    'unit_price': ('含税单价', 'unit price', 'unit_price', 'price'),
    'tax_rate': ('税率', 'tax rate', 'tax_rate', 'vat rate'),
    'branch': ('分支机构', 'branch'),
    'description': ('说明', 'description'),
    'direction': ('方向', 'direction'),
    }
REQUIRED = ('external_ref', 'type', 'counterparty', 'date', 'product',
    'quantity', 'unit_price', 'tax_rate')
# the fields that belong to the order, the same on each of its rows
ORDER_FIELDS = ('type', 'counterparty', 'date', 'branch', 'description',
    'direction')
DIRECTIONS = {
    'receivable': 'receivable', '应收': 'receivable', '收': 'receivable',
    'payable': 'payable', '应付': 'payable', '付': 'payable',
    }
DATE_FORMATS = ('%Y-%m-%d', '%Y/%m/%d', '%Y%m%d', '%Y.%m.%d', '%Y年%m月%d日',
    '%d/%m/%Y')
DATETIME_FORMATS = ('%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S',
    '%Y-%m-%d %H:%M', '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S',
    '%Y%m%d%H%M%S')
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
TRUE = {'1', 'true', 'yes', 'y', '是', '对', 'x'}
FALSE = {'0', 'false', 'no', 'n', '否', '不', ''}


class RowError(ValueError):
    "A cell that cannot be used; carries the reason."

    def __init__(self, code, **params):
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def reason(self):
        return (self.code, self.params)


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_datetime(value):
    """Return value (a datetime cell, an Excel serial number, or a text
    in one of DATETIME_FORMATS or DATE_FORMATS) as a datetime."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 100000:
            # a date cell without its number format: Excel's serial day
            return EXCEL_EPOCH + dt.timedelta(days=value)
        value = _text(value)
    if isinstance(value, str):
        text = value.strip()
        for format_ in DATETIME_FORMATS + DATE_FORMATS:
            try:
                return dt.datetime.strptime(text, format_)
            except ValueError:
                continue
    raise RowError('bad_date', value=value)


def parse_date(value):
    """Return value as a date: a date or datetime cell, an Excel serial
    number, 20261202, '2026/12/02', '2026-12-02', '2026年12月2日'…"""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and value >= 100000:
        value = _text(value)
    return parse_datetime(value).date()


def parse_extension(value, kind, selection=()):
    """Return the cell value as a value of an extension key of kind (the
    ``type_`` of a Tryton dictionary schema); raise RowError otherwise."""
    try:
        if kind in {'char', 'color'}:
            return _text(value)
        if kind == 'integer':
            number = money.to_decimal(value)
            if number != number.to_integral_value():
                raise ValueError(value)
            return int(number)
        if kind == 'float':
            return float(money.to_decimal(value))
        if kind == 'numeric':
            return money.to_decimal(value)
        if kind == 'boolean':
            if isinstance(value, bool):
                return value
            text = _text(value).lower()
            if text in TRUE:
                return True
            if text in FALSE:
                return False
            raise ValueError(value)
        if kind == 'date':
            return parse_date(value)
        if kind == 'datetime':
            return parse_datetime(value)
        if kind == 'selection':
            text = _text(value)
            if selection and text not in selection:
                raise ValueError(value)
            return text
        if kind == 'multiselection':
            items = [i.strip() for i in _text(value).replace(
                    '，', ',').split(',') if i.strip()]
            if selection and not set(items) <= set(selection):
                raise ValueError(value)
            return items
    except (ValueError, money.MoneyError, RowError):
        raise RowError('bad_extension', value=value, kind=kind) from None
    return value


class Header:
    """The columns of a sheet: field keys and extension keys by column.

    ``extension_keys`` maps an extension key's name to (label, kind,
    selection keys); a column is the key when its header is the name or
    the label."""

    def __init__(self, cells, extension_keys=None):
        names = {}
        for key, aliases in FIELDS.items():
            for alias in (key, *aliases):
                names[alias.casefold()] = key
        extension_keys = extension_keys or {}
        for name, (label, _, _) in extension_keys.items():
            for alias in (name, label):
                if alias:
                    names.setdefault(alias.casefold(), ('ext', name))
        self.cells = tuple('' if c is None else str(c).strip()
            for c in cells)
        self.columns = []
        self.ignored = []
        seen = set()
        for index, cell in enumerate(self.cells):
            key = names.get(cell.casefold()) if cell else None
            if key is None or key in seen:
                if cell:
                    self.ignored.append(cell)
                continue
            seen.add(key)
            self.columns.append((index, key))
        self.extension_keys = extension_keys
        missing = [k for k in REQUIRED if k not in seen]
        if missing:
            raise SheetError('missing_columns',
                "Missing columns: " + ', '.join(missing),
                {'columns': missing})

    def parse(self, row):
        """Return (order values, line values) of row, or raise RowError.

        Order values: external_ref, type, counterparty, branch (texts to
        resolve), date, direction, description and extension (a dict of
        the non-empty extension cells); line values: product (text),
        quantity, unit_price and tax_rate (Decimals)."""
        order, line, extension = {}, {}, {}
        for index, key in self.columns:
            value = row[index] if index < len(row) else None
            if isinstance(key, tuple):
                if not _blank(value):
                    name = key[1]
                    _, kind, selection = self.extension_keys[name]
                    try:
                        extension[name] = parse_extension(
                            value, kind, selection)
                    except RowError as error:
                        error.params['key'] = name
                        raise
                continue
            if _blank(value):
                if key in REQUIRED:
                    raise RowError('missing_field', field=key)
                continue
            if key == 'date':
                order['date'] = parse_date(value)
            elif key in {'quantity', 'unit_price'}:
                try:
                    line[key] = money.to_decimal(value)
                except money.MoneyError:
                    raise RowError('bad_amount', field=key,
                        value=value) from None
            elif key == 'tax_rate':
                try:
                    line[key] = money.parse_rate(value)
                except money.MoneyError:
                    raise RowError('bad_rate', value=value) from None
            elif key == 'direction':
                text = _text(value)
                direction = DIRECTIONS.get(text.casefold())
                if direction is None:
                    raise RowError('bad_direction', value=value)
                order['direction'] = direction
            elif key == 'product':
                line['product'] = _text(value)
            else:
                order[key] = _text(value)
        order['extension'] = extension or None
        return order, line


def read_orders(rows, header, batch_size=500):
    """Yield batches of the orders of rows (an iterator of (row number,
    cells), the header removed), each a list of dicts::

        {'rows': [(number, cells)], 'order': order values,
         'lines': [line values], 'reason': None or (code, params)}

    Rows of one external reference must follow each other; an order with a
    refused row is refused whole (its other rows get ``order_rejected``)."""
    batch, current = [], None
    done = set()

    def close(entry):
        done.add(entry['order']['external_ref'])
        batch.append(entry)

    for number, cells in rows:
        if all(_blank(c) for c in cells):
            continue
        try:
            order, line = header.parse(cells)
            reason = None
        except RowError as error:
            order, line, reason = None, None, error.reason
        ref = order['external_ref'] if order else _ref_of(header, cells)
        if current is not None and ref == current['order'].get(
                'external_ref') and ref:
            current['rows'].append((number, cells))
            if current['reason'] is None:
                if reason is not None:
                    current['reason'] = reason
                    current['bad_row'] = number
                else:
                    mismatch = [k for k in ORDER_FIELDS
                        if order.get(k) != current['order'].get(k)]
                    if mismatch:
                        current['reason'] = ('order_mismatch',
                            {'field': mismatch[0]})
                        current['bad_row'] = number
                    else:
                        current['lines'].append(line)
            continue
        if current is not None:
            close(current)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if reason is None and ref in done:
            reason = ('ref_split', {'ref': ref})
        current = {'rows': [(number, cells)],
            'order': order or {'external_ref': ref},
            'lines': [line] if line else [], 'reason': reason,
            'bad_row': number if reason else None}
    if current is not None:
        close(current)
    if batch:
        yield batch


def _ref_of(header, cells):
    for index, key in header.columns:
        if key == 'external_ref':
            value = cells[index] if index < len(cells) else None
            return None if _blank(value) else _text(value)


def row_reasons(entry):
    """Return the (cells, reason) of each row of a refused order entry:
    the bad row has the order's reason, the others ``order_rejected``."""
    result = []
    for number, cells in entry['rows']:
        if number == entry.get('bad_row') or len(entry['rows']) == 1:
            result.append((number, cells, entry['reason']))
        else:
            result.append((number, cells,
                    ('order_rejected', {'row': entry.get('bad_row')})))
    return result

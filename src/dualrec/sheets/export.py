# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Write tables to an xlsx workbook in constant memory (no trytond here).

A sheet is a ``Sheet(name, columns, rows)``: columns are ``Column(header,
kind)`` and rows an iterable of sequences of values, written one row at a
time (xlsxwriter's ``constant_memory`` mode keeps one row in memory, so a
100,000-order export does not grow with its size).

Kinds: ``text`` (written as a string, never as a formula), ``number``,
``money`` (two decimals), ``date``, ``datetime`` and ``auto`` (by the
value's type).  None leaves the cell empty.  Decimals are written as
floats: Excel has no other number.
"""
import datetime as dt
import io
import tempfile
from decimal import Decimal
from typing import Any, Iterable, NamedTuple, Sequence

import xlsxwriter

__all__ = ['Column', 'Sheet', 'write_workbook', 'flatten', 'MAX_TEXT']

# Excel refuses longer strings in a cell.
MAX_TEXT = 32767
KINDS = {'text', 'number', 'money', 'date', 'datetime', 'auto'}
FORMATS = {
    'money': '#,##0.00',
    'date': 'yyyy-mm-dd',
    'datetime': 'yyyy-mm-dd hh:mm:ss',
    }
WIDTHS = {'text': 18, 'number': 10, 'money': 14, 'date': 12,
    'datetime': 20, 'auto': 16}


class Column(NamedTuple):
    header: str
    kind: str = 'auto'


class Sheet(NamedTuple):
    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


def flatten(value):
    """Return a value of extension data as one cell: a list of choices as
    their comma-separated text, anything else as it is."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ', '.join(str(v) for v in sorted(value, key=str))
    if isinstance(value, dict):
        return ', '.join(f'{k}: {v}' for k, v in sorted(value.items()))
    return value


def _sheet_name(name, used):
    "Return name as a valid, unused sheet name (31 characters, no []:*?/\\)."
    for char in '[]:*?/\\':
        name = name.replace(char, ' ')
    name = (name.strip() or 'Sheet')[:31]
    base, i = name, 2
    while name.lower() in used:
        suffix = f' ({i})'
        name = base[:31 - len(suffix)] + suffix
        i += 1
    used.add(name.lower())
    return name


def _write(sheet, row, col, value, kind, formats):
    if value is None or value == '':
        return
    value = flatten(value)
    if kind == 'auto':
        if isinstance(value, bool):
            kind = 'bool'
        elif isinstance(value, dt.datetime):
            kind = 'datetime'
        elif isinstance(value, dt.date):
            kind = 'date'
        elif isinstance(value, (int, float, Decimal)):
            kind = 'number'
        else:
            kind = 'text'
    if kind == 'bool':
        sheet.write_boolean(row, col, value)
    elif kind in {'number', 'money'} and isinstance(
            value, (int, float, Decimal)) and not isinstance(value, bool):
        sheet.write_number(row, col, float(value), formats.get(kind))
    elif kind == 'datetime' and isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        sheet.write_datetime(row, col, value, formats['datetime'])
    elif kind in {'date', 'datetime'} and isinstance(value, dt.date):
        if isinstance(value, dt.datetime):
            value = value.date()
        sheet.write_datetime(row, col, dt.datetime.combine(
                value, dt.time()), formats['date'])
    else:
        sheet.write_string(row, col, str(value)[:MAX_TEXT])


def write_workbook(sheets, output=None):
    """Write sheets into an xlsx workbook; return its bytes, or write them
    to the binary file output and return None.  The first row of each sheet
    holds the headers, frozen and filterable."""
    target = output if output is not None else io.BytesIO()
    with tempfile.TemporaryDirectory(prefix='dualrec-xlsx-') as tmpdir:
        workbook = xlsxwriter.Workbook(target, {
                'constant_memory': True,
                'tmpdir': tmpdir,
                'strings_to_formulas': False,
                'strings_to_urls': False,
                'default_date_format': FORMATS['date'],
                })
        formats = {kind: workbook.add_format({'num_format': pattern})
            for kind, pattern in FORMATS.items()}
        bold = workbook.add_format({'bold': True})
        used = set()
        for name, columns, rows in sheets:
            for column in columns:
                if column.kind not in KINDS:
                    raise ValueError(f"unknown column kind {column.kind!r}")
            sheet = workbook.add_worksheet(_sheet_name(name, used))
            for col, column in enumerate(columns):
                sheet.set_column(col, col, max(WIDTHS[column.kind],
                        min(len(column.header) + 2, 40)))
            for col, column in enumerate(columns):
                sheet.write_string(0, col, column.header, bold)
            sheet.freeze_panes(1, 0)
            count = 0
            for count, values in enumerate(rows, 1):
                for col, column in enumerate(columns):
                    value = values[col] if col < len(values) else None
                    _write(sheet, count, col, value, column.kind, formats)
            if columns:
                sheet.autofilter(0, 0, count, len(columns) - 1)
        workbook.close()
    if output is None:
        return target.getvalue()

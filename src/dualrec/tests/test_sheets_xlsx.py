# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The xlsx reader of dualrec.sheets.files reads what openpyxl reads."""
import datetime as dt
import io
import unittest

import openpyxl
import xlsxwriter

from dualrec.sheets import files


def by_openpyxl(data):
    "Return the rows of data as openpyxl's iter_rows(values_only) gives."
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True,
        data_only=True)
    try:
        return [files._trim(row) for row in
            workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def by_xlsxwriter(constant_memory):
    "Shared (or, in constant memory, inline) strings and every cell kind."
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output,
        {'constant_memory': constant_memory})
    sheet = workbook.add_worksheet()
    day = workbook.add_format({'num_format': 'yyyy-mm-dd'})
    minute = workbook.add_format({'num_format': 'yyyy-mm-dd hh:mm'})
    duration = workbook.add_format({'num_format': '[h]:mm:ss'})
    sheet.write_row(0, 0, ['a', 'b & <c>', '中文', ' spaced '])
    sheet.write_row(1, 0, [1, 2.5, True, None, -0.000001, 1e20])
    sheet.write_datetime(2, 0, dt.datetime(2026, 1, 2), day)
    sheet.write_datetime(2, 1, dt.datetime(2026, 1, 2, 3, 4), minute)
    sheet.write_formula(2, 2, '=1+1', None, 2)
    sheet.write_formula(2, 3, '="a"&"b"', None, 'ab')
    sheet.write_formula(2, 4, '=1/0', None, '#DIV/0!')
    sheet.write_number(2, 5, 1.5, duration)
    sheet.write(5, 1, 'after a gap')
    sheet.write_rich_string(6, 0, 'plain ',
        workbook.add_format({'bold': True}), 'bold', ' end')
    sheet.write(8, 3, '')
    sheet.write_row(9, 0, ['x' * 300, '=not a formula', 0])
    workbook.close()
    return output.getvalue()


def by_openpyxl_writer():
    "Inline strings as openpyxl writes them, dates, a second sheet."
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(['h1', 'h2', None, 'h4'])
    sheet.append([dt.date(2026, 3, 4), dt.datetime(2026, 3, 4, 5, 6, 7), 1,
            '=SUM(1,2)'])
    sheet['C5'] = 'x'
    sheet['A7'] = False
    workbook.create_sheet('second')['A1'] = 'not read'
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def many_rows(count):
    "Enough rows to cross the reader's chunks in the middle of cells."
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {'constant_memory': True})
    sheet = workbook.add_worksheet()
    minute = workbook.add_format({'num_format': 'yyyy-mm-dd hh:mm'})
    for row in range(count):
        sheet.write_row(row, 0, [f'REF{row}', '订单', row, row / 7])
        sheet.write_datetime(row, 4, dt.datetime(2026, 1, 1)
            + dt.timedelta(minutes=row), minute)
        sheet.write(row, 5, "服务很好" if row % 3 else None)
    workbook.close()
    return output.getvalue()


class XlsxReadTestCase(unittest.TestCase):
    "Test that the xlsx reader reads what openpyxl reads"

    def test_same_rows(self):
        "The rows of each kind of file are openpyxl's"
        for name, data in [
                ('shared strings', by_xlsxwriter(False)),
                ('inline strings', by_xlsxwriter(True)),
                ('openpyxl', by_openpyxl_writer()),
                ('many rows', many_rows(3000)),
                ]:
            with self.subTest(file=name):
                self.assertEqual(list(files.read_rows(data)),
                    by_openpyxl(data))

    def test_values(self):
        "Numbers, dates, booleans, formulas and gaps are read as values"
        rows = list(files.read_rows(by_xlsxwriter(False)))
        self.assertEqual(rows[1][:3], (1, 2.5, True))
        self.assertEqual(rows[2][:5], (dt.datetime(2026, 1, 2),
                dt.datetime(2026, 1, 2, 3, 4), 2, 'ab', '#DIV/0!'))
        self.assertEqual(rows[3:5], [(), ()])
        self.assertEqual(rows[5], (None, 'after a gap'))
        self.assertEqual(rows[6], ('plain bold end',))


if __name__ == '__main__':
    unittest.main()

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import io
import unittest
from decimal import Decimal

import openpyxl

from dualrec.sheets.export import (
    MAX_TEXT, Column, Sheet, flatten, write_workbook)


def read(data):
    "Return {sheet name: [row values]} of the xlsx bytes data."
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)]
            for ws in book.worksheets}
    finally:
        book.close()


class ExportTestCase(unittest.TestCase):

    def test_cells(self):
        "Each kind is written as the cell type an analyst can compute with"
        cases = [
            # kind, value, read back
            ('text', "洗车", "洗车"),
            ('text', "=1+1", "=1+1"),
            ('text', 42, "42"),
            ('number', 3, 3),
            ('number', Decimal('2.5'), 2.5),
            ('money', Decimal('106.50'), 106.5),
            ('money', Decimal('-0.01'), -0.01),
            ('date', dt.date(2026, 12, 2), dt.datetime(2026, 12, 2)),
            ('datetime', dt.datetime(2026, 12, 2, 10, 30, 5),
                dt.datetime(2026, 12, 2, 10, 30, 5)),
            ('datetime', dt.datetime(2026, 12, 2, 10, 30,
                    tzinfo=dt.timezone.utc), dt.datetime(2026, 12, 2, 10, 30)),
            ('auto', True, True),
            ('auto', 7, 7),
            ('auto', dt.date(2026, 1, 31), dt.datetime(2026, 1, 31)),
            ('auto', ('b', 'a'), "a, b"),
            ('auto', None, None),
            ('auto', '', None),
            ('text', 'x' * (MAX_TEXT + 5), 'x' * MAX_TEXT),
            ]
        for kind, value, expected in cases:
            with self.subTest(kind=kind, value=str(value)[:20]):
                data = write_workbook([Sheet("S", [Column("H", kind)],
                            [[value]])])
                rows = read(data)["S"]
                self.assertEqual(rows[0], ["H"])
                got = rows[1][0] if len(rows) > 1 else None
                self.assertEqual(got, expected)

    def test_sheets_and_rows(self):
        "Sheets keep their order, headers and rows; short rows are padded"
        orders = Sheet("Orders", [Column("Number", 'text'),
                Column("Total", 'money')],
            ([f"SO{i:05d}", Decimal(i)] for i in range(1, 1001)))
        lines = Sheet("Lines", [Column("Order"), Column("Qty", 'number'),
                Column("Note")], [["SO00001", 2], ["SO00002", 1, "折扣"]])
        result = read(write_workbook([orders, lines]))
        self.assertEqual(list(result), ["Orders", "Lines"])
        self.assertEqual(result["Orders"][0], ["Number", "Total"])
        self.assertEqual(len(result["Orders"]), 1001)
        self.assertEqual(result["Orders"][1000], ["SO01000", 1000])
        self.assertEqual(result["Lines"][1:], [["SO00001", 2, None],
                ["SO00002", 1, "折扣"]])

    def test_sheet_names(self):
        "Sheet names are made valid and unique"
        data = write_workbook([Sheet("a/b", [Column("H")], []),
                Sheet("A/B", [Column("H")], []),
                Sheet("x" * 40, [Column("H")], [])])
        self.assertEqual(list(read(data)), ["a b", "A B (2)", "x" * 31])

    def test_output_file(self):
        "The workbook can be written to a file object"
        output = io.BytesIO()
        self.assertIsNone(write_workbook(
                [Sheet("S", [Column("H")], [[1]])], output))
        self.assertEqual(read(output.getvalue())["S"], [["H"], [1]])

    def test_unknown_kind(self):
        "An unknown column kind is refused"
        with self.assertRaises(ValueError):
            write_workbook([Sheet("S", [Column("H", 'percent')], [])])

    def test_flatten(self):
        "Extension values become one cell"
        for value, expected in [
                (['b', 'a'], "a, b"),
                ({'k': 1}, "k: 1"),
                (4, 4),
                ("store", "store"),
                (None, None),
                ]:
            with self.subTest(value=value):
                self.assertEqual(flatten(value), expected)


if __name__ == '__main__':
    unittest.main()

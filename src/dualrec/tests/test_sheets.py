# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import io
import unittest
from decimal import Decimal

import openpyxl
import xlsxwriter

from dualrec.sheets import files, orders

HEADER = ['外部单号', '订单类型', '客户', '日期', '服务', '数量', '含税单价',
    '税率', '车型']
EXT = {'vehicle_model': ("车型", 'char', ()),
    'rating': ("Rating", 'integer', ())}


def xlsx(rows):
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output)
    sheet = workbook.add_worksheet()
    date_format = workbook.add_format({'num_format': 'yyyy-mm-dd'})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(
                        value, dt.time()), date_format)
            else:
                sheet.write(r, c, value)
    workbook.close()
    return output.getvalue()


def csv_bytes(rows, encoding):
    text = '\r\n'.join(','.join(str(c) for c in row) for row in rows)
    return text.encode(encoding)


class FilesTestCase(unittest.TestCase):

    def test_read_rows(self):
        "xlsx and CSV in UTF-8, UTF-8 with BOM and GBK give the same rows"
        rows = [HEADER, ['A1', 'tech', '示范保险', '2026-12-02', 'TPA', '2',
                '106', '6%', '宝马']]
        for name, data in [
                ('utf-8', csv_bytes(rows, 'utf-8')),
                ('utf-8-sig', csv_bytes(rows, 'utf-8-sig')),
                ('gbk', csv_bytes(rows, 'gbk')),
                ('xlsx', xlsx(rows)),
                ]:
            with self.subTest(name):
                read = list(files.read_rows(data))
                self.assertEqual(read[0], tuple(HEADER))
                self.assertEqual(read[1][2], '示范保险')
                self.assertEqual(files.count_rows(data), 1)

    def test_gbk_is_not_utf8(self):
        "A GBK file is not valid UTF-8 (the fallback is needed)"
        with self.assertRaises(UnicodeDecodeError):
            '示范保险'.encode('gbk').decode('utf-8')
        self.assertEqual(files.decode_csv('示范保险'.encode('gbk')),
            '示范保险')

    def test_write_rows(self):
        "The rejected rows come back with the reason first"
        data = files.write_rows(HEADER[:2], [(('A1', 'tech'), "bad date"),
                (('A2', None), "unknown type")], reason_label="原因")
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        self.assertEqual([list(r) for r in sheet.iter_rows(values_only=True)],
            [["原因", '外部单号', '订单类型'], ["bad date", 'A1', 'tech'],
                ["unknown type", 'A2', None]])


class ParseTestCase(unittest.TestCase):

    def test_dates(self):
        "Dates in the formats of Chinese sheets"
        for value, expected in [
                (dt.datetime(2026, 12, 2, 10, 30), dt.date(2026, 12, 2)),
                (dt.date(2026, 12, 2), dt.date(2026, 12, 2)),
                ('2026/12/02', dt.date(2026, 12, 2)),
                ('2026-12-02', dt.date(2026, 12, 2)),
                ('20261202', dt.date(2026, 12, 2)),
                (20261202, dt.date(2026, 12, 2)),
                ('2026年12月2日', dt.date(2026, 12, 2)),
                ('2026-12-02 08:00:00', dt.date(2026, 12, 2)),
                (46358, dt.date(2026, 12, 2)),
                ]:
            with self.subTest(value=value):
                self.assertEqual(orders.parse_date(value), expected)
        for value in ['2026-13-02', '昨天', '02.12', True]:
            with self.subTest(value=value):
                with self.assertRaises(orders.RowError) as cm:
                    orders.parse_date(value)
                self.assertEqual(cm.exception.code, 'bad_date')

    def test_extension(self):
        "Extension cells are converted to their key's kind or refused"
        for value, kind, expected in [
                ('宝马', 'char', '宝马'),
                (5.0, 'integer', 5),
                ('5', 'integer', 5),
                ('是', 'boolean', True),
                ('2026/12/02 10:00', 'datetime', dt.datetime(2026, 12, 2, 10)),
                ('12.5', 'numeric', Decimal('12.5')),
                ]:
            with self.subTest(value=value, kind=kind):
                self.assertEqual(orders.parse_extension(value, kind),
                    expected)
        for value, kind in [('五', 'integer'), ('4.5', 'integer'),
                ('maybe', 'boolean'), ('soon', 'datetime')]:
            with self.subTest(value=value, kind=kind):
                with self.assertRaises(orders.RowError) as cm:
                    orders.parse_extension(value, kind)
                self.assertEqual(cm.exception.code, 'bad_extension')

    def test_header(self):
        "Columns are found by Chinese or English names and extension labels"
        header = orders.Header(['External Reference', 'type', 'Customer',
                'DATE', 'service', 'Quantity', 'Unit Price', 'Tax Rate',
                'Rating', '备注'], EXT)
        self.assertEqual([k for _, k in header.columns][-1],
            ('ext', 'rating'))
        self.assertEqual(header.ignored, ['备注'])
        with self.assertRaises(files.SheetError) as cm:
            orders.Header(['外部单号', '客户'], EXT)
        self.assertIn('date', cm.exception.params['columns'])

    def test_rows(self):
        "Each bad row has its reason"
        header = orders.Header(HEADER + ['Rating'], EXT)
        good = ['A1', 'tech', 'INS1', '2026/12/02', 'TPA', '2', '1,060.00',
            '6%', '宝马', '4']
        order, line = header.parse(good)
        self.assertEqual(order['date'], dt.date(2026, 12, 2))
        self.assertEqual(order['extension'],
            {'vehicle_model': '宝马', 'rating': 4})
        self.assertEqual(line, {'product': 'TPA', 'quantity': Decimal(2),
                'unit_price': Decimal('1060.00'),
                'tax_rate': Decimal('0.06')})
        for index, value, code in [
                (3, 'tomorrow', 'bad_date'),
                (5, 'two', 'bad_amount'),
                (6, '', 'missing_field'),
                (7, '7%', 'bad_rate'),
                (9, 'good', 'bad_extension'),
                (2, None, 'missing_field'),
                ]:
            with self.subTest(code=code, index=index):
                row = list(good)
                row[index] = value
                with self.assertRaises(orders.RowError) as cm:
                    header.parse(row)
                self.assertEqual(cm.exception.code, code)

    def test_read_orders(self):
        "Rows of one reference are one order; a bad row refuses the order"
        header = orders.Header(HEADER, EXT)
        base = ['A1', 'tech', 'INS1', '2026-12-02', 'TPA', '1', '106', '6']
        rows = [
            base,
            ['A1', 'tech', 'INS1', '2026-12-02', 'ADV', '2', '53', '6'],
            ['A2', 'tech', 'INS1', '2026-12-02', 'TPA', '1', '106', '6'],
            ['A2', 'tech', 'INS1', 'bad', 'TPA', '1', '106', '6'],
            ['A3', 'tech', 'INS1', '2026-12-02', 'TPA', '1', '106', '6'],
            ['A3', 'tech', 'INS2', '2026-12-02', 'TPA', '1', '106', '6'],
            ['A1', 'tech', 'INS1', '2026-12-02', 'TPA', '1', '106', '6'],
            ]
        batches = list(orders.read_orders(enumerate(rows, 2), header,
                batch_size=2))
        self.assertEqual([len(b) for b in batches], [2, 2])
        entries = [e for b in batches for e in b]
        self.assertEqual([(e['order']['external_ref'], len(e['lines']),
                    e['reason'] and e['reason'][0]) for e in entries], [
                ('A1', 2, None), ('A2', 1, 'bad_date'),
                ('A3', 1, 'order_mismatch'), ('A1', 1, 'ref_split')])
        self.assertEqual([(n, r[0]) for n, _, r in
                orders.row_reasons(entries[1])],
            [(4, 'order_rejected'), (5, 'bad_date')])

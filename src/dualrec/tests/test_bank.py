# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import io
import unittest
from decimal import Decimal

from dualrec.bank import (
    BankFileError, BankLine, OpenItem, line_key, match, normalize_name,
    read_bank_file)

HEADER = ['交易日期', '交易流水号', '对方户名', '对方账号', '收入金额', '支出金额',
    '摘要']


def bank_csv(rows, title=True, encoding='utf-8-sig', header=HEADER):
    "Return the bytes of a bank export CSV with rows under header."
    lines = []
    if title:
        lines += ['中国工商银行账户交易明细', '账号：6222000011112222,,,', '']
    lines.append(','.join(header))
    for row in rows:
        lines.append(','.join(f'"{c}"' if ',' in str(c) else str(c)
                for c in row))
    return '\r\n'.join(lines).encode(encoding)


class ReadBankFileTest(unittest.TestCase):

    def test_csv_encodings(self):
        "UTF-8 with or without BOM and GBK files read the same lines."
        rows = [['2026-11-30', 'SN1', '太平洋保险', '6222', '1,200.50', '',
                '货款 ST20261130001']]
        for encoding in ('utf-8-sig', 'utf-8', 'gbk'):
            with self.subTest(encoding=encoding):
                lines, bad = read_bank_file(bank_csv(rows, encoding=encoding))
                self.assertEqual(bad, [])
                self.assertEqual(lines, [BankLine(row=5,
                            date=dt.date(2026, 11, 30), name='太平洋保险',
                            amount=Decimal('1200.50'), account='6222',
                            memo='货款 ST20261130001', serial='SN1')])

    def test_dates_amounts_and_bad_rows(self):
        "Several date formats; expense is negative; bad rows say why."
        table = [
            (['2026/11/30', 'A', 'X', '', '10', '', ''], Decimal('10.00')),
            (['20261130', 'B', 'X', '', '', '3,000.00', ''],
                Decimal('-3000.00')),
            (['2026年11月30日', 'C', 'X', '', '0.5', '-', ''],
                Decimal('0.50')),
            (['2026.11.30', 'D', 'X', '', '', '', ''], 'no_amount'),
            (['30/30/2026', 'E', 'X', '', '1', '', ''], 'bad_date'),
            (['2026-11-30', 'F', 'X', '', 'abc', '', ''], 'bad_amount'),
            (['2026-11-30', 'G', 'X', '', '1', '2', ''], 'both_amounts'),
            ]
        lines, bad = read_bank_file(bank_csv([r for r, _ in table]))
        self.assertEqual([l.amount for l in lines],
            [e for _, e in table if isinstance(e, Decimal)])
        self.assertTrue(all(l.date == dt.date(2026, 11, 30) for l in lines))
        self.assertEqual([(b.row, b.code) for b in bad],
            [(8, 'no_amount'), (9, 'bad_date'), (10, 'bad_amount'),
                (11, 'both_amounts')])
        self.assertIn('Row 9', bad[1].reason)

    def test_configured_columns(self):
        "Another bank's header texts are read through a column mapping."
        data = bank_csv([['2026-11-30', 'Acme', '1', '', 'memo']],
            title=False, header=['记账日期', '户名', '贷方发生额', '借方发生额',
                '用途'])
        lines, bad = read_bank_file(data, {'date': '记账日期', 'name': '户名',
                'credit': '贷方发生额', 'debit': '借方发生额', 'memo': '用途'})
        self.assertEqual(bad, [])
        self.assertEqual((lines[0].name, lines[0].amount, lines[0].memo),
            ('Acme', Decimal('1.00'), 'memo'))

    def test_no_header(self):
        "A file without the required headers is refused."
        with self.assertRaises(BankFileError) as context:
            read_bank_file('a,b\n1,2\n'.encode())
        self.assertEqual(context.exception.code, 'no_header')

    def test_xlsx(self):
        "An xlsx export with a title row is read with typed cells."
        import xlsxwriter
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {'in_memory': True})
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, ['交易明细'])
        sheet.write_row(1, 0, HEADER)
        sheet.write_datetime(2, 0, dt.datetime(2026, 11, 30),
            workbook.add_format({'num_format': 'yyyy-mm-dd'}))
        sheet.write_row(2, 1, ['SN9', '中国人寿', 6222, 88.8, None, 'x'])
        workbook.close()
        lines, bad = read_bank_file(output.getvalue())
        self.assertEqual(bad, [])
        self.assertEqual((lines[0].row, lines[0].date, lines[0].amount,
                lines[0].account, lines[0].serial),
            (3, dt.date(2026, 11, 30), Decimal('88.80'), '6222', 'SN9'))


def line(amount, name, memo='', serial='', day=30):
    return BankLine(row=0, date=dt.date(2026, 11, day), name=name,
        amount=Decimal(amount), memo=memo, serial=serial)


class MatchTest(unittest.TestCase):

    def items(self):
        return [
            OpenItem(1, ('太平洋保险',), Decimal('1000'), ('INV001',)),
            OpenItem(2, ('太平洋保险',), Decimal('500'), ('INV002',
                    'ST20261130002')),
            OpenItem(3, ('中国人寿保险（集团）',), Decimal('800'), ('INV003',)),
            OpenItem(4, ('平安产险',), Decimal('300'), ('INV004',)),
            OpenItem(5, ('平安产险',), Decimal('400'), ('INV005',)),
            ]

    def test_table(self):
        "Reference, exact, partial, duplicate and unknown payments."
        table = [
            (line('500', '别的公司', '付 ST20261130002 款', 'S1'), 'reference', 2),
            (line('1000', '太平洋保险', '', 'S2'), 'exact', 1),
            (line('1000', '太平洋保险', '', 'S2'), 'duplicate', None),
            (line('300', '中国人寿保险(集团)', '', 'S3'), 'partial', 3),
            (line('500', '中国人寿保险(集团)', '', 'S4'), 'exact', 3),
            (line('100', '平安产险', '', 'S5'), 'unmatched', None),
            (line('300', '平安产险', '', 'S6'), 'exact', 4),
            (line('99', '无名氏', '', 'S7'), 'unmatched', None),
            (line('-50', '太平洋保险', '', 'S8'), 'unmatched', None),
            (line('20', '无名氏', 'same'), 'unmatched', None),
            (line('20', '无名氏 ', 'same'), 'duplicate', None),
            (line('20', '无名氏', 'same', day=29), 'unmatched', None),
            ]
        results = match([l for l, _, _ in table], self.items())
        self.assertEqual([(r.kind, r.item) for r in results],
            [(k, i) for _, k, i in table])

    def test_seen_before(self):
        "A line imported before (its key in seen) is a duplicate."
        first = line('1000', '太平洋保险', '', 'S2')
        results = match([first], self.items(), seen={line_key(first)})
        self.assertEqual(results[0].kind, 'duplicate')

    def test_paid_reference_not_matched_twice(self):
        "A reference to a paid item falls back to name and amount."
        items = self.items()
        results = match([line('1000', 'X', 'INV001', 'A'),
                line('1000', 'X', 'INV001', 'B')], items)
        self.assertEqual([r.kind for r in results], ['reference', 'unmatched'])
        self.assertEqual(items[0].remaining, Decimal('0.00'))

    def test_normalize_name(self):
        "Full-width brackets and spaces do not matter."
        self.assertEqual(normalize_name(' 人寿（集团） a'), '人寿(集团)A')

    def test_many_lines(self):
        "10,000 mixed lines against 3,000 open items each get their kind."
        items = [OpenItem(i, (f'客户{i % 50}',), Decimal(100 + i),
                (f'INV{i:06d}',)) for i in range(3000)]
        lines = []
        for n in range(10000):
            i = n % 3000
            kind = n % 4
            if kind == 0:
                lines.append(line(100 + i, 'X', f'INV{i:06d}', f'S{n}'))
            elif kind == 1:
                lines.append(line(100 + i, f'客户{i % 50}', '', f'S{n}'))
            elif kind == 2:
                lines.append(line(1, f'客户{i % 50}', '', f'S{n}'))
            else:
                lines.append(line(7, '陌生人', f'memo {n}'))
        # The speed is measured by bench/settlement.py, not here.
        results = match(lines, items)
        self.assertEqual(len(results), 10000)
        kinds = [r.kind for r in results]
        self.assertEqual(kinds[0], 'reference')
        self.assertTrue(all(k == 'unmatched' for k in kinds[3::4]))
        self.assertTrue(all(r.item is None for r in results[3::4]))

if __name__ == '__main__':
    unittest.main()

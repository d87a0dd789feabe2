# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Spreadsheet files as rows of cells: xlsx (streamed with openpyxl in
read-only mode) and CSV in UTF-8 (with or without BOM) or GBK/GB18030, the
encoding Chinese Excel saves CSV in; and the rejected rows written back as
an xlsx with their reason (xlsxwriter in constant-memory mode)."""
import csv
import io

from ..errors import CodedError

XLSX_MAGIC = b'PK\x03\x04'
BOM = b'\xef\xbb\xbf'


class SheetError(CodedError):
    "A file that cannot be read as a sheet."


def is_xlsx(data):
    "Tell whether data (bytes) is an xlsx (a zip) file."
    return bytes(data[:4]) == XLSX_MAGIC


def decode_csv(data):
    """Return the text of CSV bytes: UTF-8 with or without BOM, else
    GB18030 (a superset of GBK)."""
    data = bytes(data)
    if data.startswith(BOM):
        return data[len(BOM):].decode('utf-8')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        pass
    try:
        return data.decode('gb18030')
    except UnicodeDecodeError:
        raise SheetError('bad_encoding',
            "The CSV file is neither UTF-8 nor GBK") from None


def _trim(row):
    "Return row (a sequence) as a tuple without its trailing empty cells."
    row = list(row)
    while row and row[-1] in (None, ''):
        row.pop()
    return tuple(row)


def read_rows(data):
    """Yield the rows of the first sheet of data (xlsx or CSV bytes) as
    tuples of cell values (strings for CSV; numbers, dates and strings for
    xlsx), trailing empty cells removed."""
    if is_xlsx(data):
        import openpyxl
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(bytes(data)),
                read_only=True, data_only=True)
        except Exception as error:
            raise SheetError('bad_file', f"Not an xlsx file: {error}") \
                from error
        try:
            sheet = workbook.worksheets[0]
            for row in sheet.iter_rows(values_only=True):
                yield _trim(row)
        finally:
            workbook.close()
    else:
        text = decode_csv(data)
        sample = text[:4096]
        delimiter = ','
        if sample.count('\t') > sample.count(','):
            delimiter = '\t'
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            yield _trim(row)


def count_rows(data):
    """Return the number of data rows (without the header) of data: from
    the xlsx's dimension when it has one, else by reading it."""
    if is_xlsx(data):
        import openpyxl
        workbook = openpyxl.load_workbook(io.BytesIO(bytes(data)),
            read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            if sheet.max_row and sheet.max_row > 1:
                # a declared dimension; trailing empty rows are counted
                return sheet.max_row - 1
        finally:
            workbook.close()
    count = -1
    for row in read_rows(data):
        if any(c not in (None, '') for c in row):
            count += 1
    return max(count, 0)


def write_rows(header, rows, reason_label='Reason'):
    """Return the bytes of an xlsx (constant memory) of header and rows,
    each row a (cells, reason) pair: the reason comes first, then the
    cells as read."""
    import xlsxwriter
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {'constant_memory': True,
            'default_date_format': 'yyyy-mm-dd',
            'strings_to_numbers': False, 'strings_to_formulas': False})
    sheet = workbook.add_worksheet()
    bold = workbook.add_format({'bold': True})
    sheet.write_row(0, 0, [reason_label, *header], bold)
    for index, (cells, reason) in enumerate(rows, 1):
        sheet.write_row(index, 0, [reason, *(
                    c if c is not None else '' for c in cells)])
    workbook.close()
    return output.getvalue()

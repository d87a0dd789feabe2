# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Spreadsheet files as rows of cells: xlsx (opened with openpyxl in
read-only mode, its sheet streamed through expat) and CSV in UTF-8 (with or without BOM) or GBK/GB18030, the
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
            yield from _xlsx_rows(workbook.worksheets[0])
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


MAIN_NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'
_ROW, _CELL, _VALUE, _INLINE, _RUN, _PHONETIC, _TEXT = (
    f'{MAIN_NS} {name}' for name in ('row', 'c', 'v', 'is', 'r', 'rPh', 't'))
CHUNK = 1 << 16


def _xlsx_rows(sheet):
    """Yield the rows of sheet (an openpyxl read-only worksheet) as
    ``sheet.iter_rows(values_only=True)`` does, trimmed: the same values
    (shared and inline strings, numbers, dates by the cell's style,
    booleans, the cached values of formulas, missing rows as empty ones,
    the sheet's declared dimension as limit), but parsed by expat with a
    few handlers instead of openpyxl's cell by cell objects, which cost
    most of the reading of a large file."""
    from xml.parsers import expat

    from openpyxl.utils.cell import column_index_from_string
    from openpyxl.utils.datetime import from_excel, from_ISO8601
    from openpyxl.worksheet._reader import _cast_number

    workbook = sheet.parent
    strings = sheet._shared_strings
    epoch = workbook.epoch
    dates = workbook._date_formats
    durations = workbook._timedelta_formats
    max_row, max_col = sheet.max_row, sheet.max_column
    done = []  # (row number, {column: value}) of the rows parsed
    row_number = column = 0
    cells = cell = collect = inline = value = None
    phonetic = 0

    def value_of(kind, style, text):
        if kind == 'inlineStr':
            return ''.join(inline) if inline is not None else None
        if not text:
            return None
        if kind == 'n':
            number = _cast_number(text)
            if style in dates:
                try:
                    return from_excel(number, epoch,
                        timedelta=style in durations)
                except (OverflowError, ValueError):
                    return '#VALUE!'
            return number
        if kind == 's':
            return strings[int(text)]
        if kind == 'b':
            return bool(int(text))
        if kind == 'd':
            return from_ISO8601(text)
        return text

    def start(name, attrs):
        nonlocal row_number, column, cells, cell, collect, inline, value
        nonlocal phonetic
        if name == _CELL:
            ref = attrs.get('r')
            column = (column_index_from_string(ref.rstrip('0123456789'))
                if ref else column + 1)
            style = attrs.get('s')
            cell = (attrs.get('t', 'n'), int(style) if style else 0)
            inline = value = None
            phonetic = 0
        elif cell is None:
            if name == _ROW:
                ref = attrs.get('r')
                row_number = int(float(ref)) if ref else row_number + 1
                column = 0
                cells = {}
        elif name == _VALUE and inline is None:
            collect = []
        elif name == _INLINE:
            inline = []
        elif name == _PHONETIC:
            phonetic += 1
        elif name == _TEXT and inline is not None and not phonetic:
            collect = []

    def end(name):
        nonlocal cells, cell, collect, value, phonetic
        if name == _CELL:
            if cell is not None and cells is not None:
                result = value_of(*cell, value)
                if result is not None:
                    cells[column] = result
            cell = collect = None
        elif collect is not None and name == _VALUE:
            value = ''.join(collect)
            collect = None
        elif collect is not None and name == _TEXT:
            inline.append(''.join(collect))
            collect = None
        elif name == _PHONETIC and cell is not None:
            phonetic -= 1
        elif name == _ROW and cells is not None:
            done.append((row_number, cells))
            cells = None

    def text(data):
        if collect is not None:
            collect.append(data)

    parser = expat.ParserCreate(namespace_separator=' ')
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    counter = 1
    with sheet._get_source() as source:
        while True:
            chunk = source.read(CHUNK)
            parser.Parse(chunk, not chunk)
            for number, values in done:
                if max_row is not None and number > max_row:
                    return
                while counter < number:
                    counter += 1
                    yield ()
                if counter == number:
                    counter += 1
                    if max_col is not None:
                        values = {c: v for c, v in values.items()
                            if c <= max_col}
                    row = [None] * max(values, default=0)
                    for index, found in values.items():
                        row[index - 1] = found
                    yield _trim(row)
            done.clear()
            if not chunk:
                break
    if max_row is not None:
        while counter <= max_row:
            counter += 1
            yield ()


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

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The printer's sheets of a batch of move-car plates: A4 pages in SVG, a
grid of QR codes each with its serial printed under it.

No database and no Tryton here.  The QR codes are made by segno (error
correction M, so a worn or dirty card still scans) and drawn as one SVG
path each: a page of 24 codes is some 60 KB and prints sharp at any size.
"""
from dataclasses import dataclass
from xml.sax.saxutils import escape

import segno

__all__ = ['Layout', 'qr_path', 'sheet_pages']


@dataclass(frozen=True)
class Layout:
    "The grid of a page, in millimetres."
    page_width: float = 210
    page_height: float = 297
    columns: int = 4
    rows: int = 6
    margin: float = 10
    code_size: float = 34  # the side of a QR code without its quiet zone
    font_size: float = 3.2

    def __post_init__(self):
        if self.columns < 1 or self.rows < 1:
            raise ValueError('a page has at least one row and one column')
        if self.cell_width < self.code_size \
                or self.cell_height < self.code_size + 2 * self.font_size:
            raise ValueError('the QR codes do not fit in the cells')

    @property
    def per_page(self):
        return self.columns * self.rows

    @property
    def cell_width(self):
        return (self.page_width - 2 * self.margin) / self.columns

    @property
    def cell_height(self):
        return (self.page_height - 2 * self.margin) / self.rows


def qr_path(data):
    """Return (modules, path data) of the QR code of ``data``: the number
    of modules of a side, and an SVG path with one rectangle per run of
    dark modules of a row, in module units."""
    qr = segno.make(data, error='m', micro=False)
    parts = []
    for y, row in enumerate(qr.matrix):
        x = 0
        width = len(row)
        while x < width:
            if row[x]:
                start = x
                while x < width and row[x]:
                    x += 1
                parts.append(f'M{start} {y}h{x - start}v1h{start - x}z')
            else:
                x += 1
    return len(qr.matrix), ''.join(parts)


def _fmt(value):
    return f'{value:.2f}'.rstrip('0').rstrip('.')


def sheet_pages(items, layout=Layout(), title=None):
    """Return the SVG texts of the pages holding ``items``, a sequence of
    (serial, URL) in print order: each URL as a QR code, its serial under
    it.  ``title`` (e.g. the batch number) is printed at the foot of every
    page with the page number."""
    items = list(items)
    pages = []
    total = max((len(items) + layout.per_page - 1) // layout.per_page, 1)
    for number in range(total):
        chunk = items[number * layout.per_page:
            (number + 1) * layout.per_page]
        pages.append(_page(chunk, layout, title, number + 1, total))
    return pages


def _page(items, layout, title, number, total):
    w, h = layout.page_width, layout.page_height
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(w)}mm" '
        f'height="{_fmt(h)}mm" viewBox="0 0 {_fmt(w)} {_fmt(h)}">',
        '<rect width="100%" height="100%" fill="#fff"/>',
        f'<g font-family="monospace" font-size="{_fmt(layout.font_size)}" '
        'text-anchor="middle" fill="#000">',
        ]
    for index, (serial, url) in enumerate(items):
        row, column = divmod(index, layout.columns)
        x0 = layout.margin + column * layout.cell_width
        y0 = layout.margin + row * layout.cell_height
        x = x0 + (layout.cell_width - layout.code_size) / 2
        y = y0 + (layout.cell_height - layout.code_size
            - 1.6 * layout.font_size) / 2
        modules, path = qr_path(url)
        scale = layout.code_size / modules
        out.append(f'<path transform="translate({_fmt(x)} {_fmt(y)}) '
            f'scale({scale:.4f})" d="{path}"/>')
        out.append(f'<text x="{_fmt(x0 + layout.cell_width / 2)}" '
            f'y="{_fmt(y + layout.code_size + 1.4 * layout.font_size)}">'
            f'{escape(serial)}</text>')
    foot = f'{number}/{total}'
    if title:
        foot = f'{escape(title)} · {foot}'
    out.append(f'<text x="{_fmt(w / 2)}" y="{_fmt(h - layout.margin / 2)}" '
        f'font-size="{_fmt(layout.font_size * 0.8)}">{foot}</text>')
    out.append('</g></svg>')
    return '\n'.join(out)

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import re
import unittest
import xml.etree.ElementTree as ET

import cv2
import numpy as np

from dualrec.plate import SerialRange, derive_plate_key, plate_url, \
    verify_payload
from dualrec.plate_sheet import Layout, qr_path, sheet_pages

KEY = derive_plate_key(bytes(range(32)))
BASE = 'https://nc.example.cn/m'
SVG = '{http://www.w3.org/2000/svg}'


def rasterize(modules, path, scale=8, border=4):
    "Draw the runs of a qr_path as a black-on-white image."
    size = (modules + 2 * border) * scale
    image = np.full((size, size), 255, dtype=np.uint8)
    for x, y, length in re.findall(r'M(\d+) (\d+)h(\d+)v1h-\d+z', path):
        x, y, length = int(x) + border, int(y) + border, int(length)
        image[y * scale:(y + 1) * scale,
            x * scale:(x + length) * scale] = 0
    return image


def items(count, first='NC2026000001'):
    serials = SerialRange.parse(first)
    prefix, year, start = serials.prefix, serials.year, serials.start
    return [(s, plate_url(BASE, KEY, s))
        for s in SerialRange(prefix, year, start, start + count - 1)]


class SheetTestCase(unittest.TestCase):

    def test_qr_scans(self):
        "The drawn code scans back to the signed URL of the plate"
        url = plate_url(BASE, KEY, 'NC2026000042')
        modules, path = qr_path(url)
        self.assertEqual(modules, 33)
        text, _, _ = cv2.QRCodeDetector().detectAndDecode(
            rasterize(modules, path))
        self.assertEqual(text, url)
        self.assertEqual(verify_payload(KEY, text), 'NC2026000042')

    def test_pages(self):
        layout = Layout()
        pages = sheet_pages(items(50), layout, title='NCB2026-0001')
        self.assertEqual(len(pages), 3)  # 24 + 24 + 2
        counts = []
        for number, page in enumerate(pages, 1):
            root = ET.fromstring(page.encode('utf-8'))
            self.assertEqual(root.get('width'), '210mm')
            paths = root.findall(f'.//{SVG}path')
            texts = [t.text for t in root.iter(f'{SVG}text')]
            counts.append(len(paths))
            self.assertEqual(texts[-1], f'NCB2026-0001 · {number}/3')
            self.assertEqual(len(texts) - 1, len(paths))
        self.assertEqual(counts, [24, 24, 2])
        serials = [t.text for p in pages
            for t in ET.fromstring(p.encode()).iter(f'{SVG}text')][:-1]
        self.assertEqual(serials[:3],
            ['NC2026000001', 'NC2026000002', 'NC2026000003'])
        # a full page stays small enough for the print shop's mail
        self.assertLess(len(pages[0].encode()), 120_000)

    def test_empty_and_layout(self):
        page, = sheet_pages([])
        self.assertEqual(ET.fromstring(page.encode()).findall(
                f'.//{SVG}path'), [])
        self.assertEqual(len(sheet_pages(items(10), Layout(columns=2,
                        rows=5, code_size=40))), 1)
        with self.assertRaises(ValueError):
            Layout(columns=10)
        with self.assertRaises(ValueError):
            Layout(rows=0)

    def test_escaped(self):
        page, = sheet_pages([('NC2026000001', BASE + '/x')], title='<&>')
        self.assertIn('&lt;&amp;&gt;', page)
        ET.fromstring(page.encode())

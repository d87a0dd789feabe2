# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The public scan page of a move-car plate on a phone, in headless
Chromium, as a passer-by sees it (the demo's simulated providers)."""
import re
import unittest

from .server import LiveServer
from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

OWNER = '13800138000'
# the plates are put in their states directly, until the purchase workflow
SET_UP = f"""
from dualrec.plate import sign_serial
from trytond.modules.dualrec_valueadd.plate import plate_key
from trytond.transaction import without_check_access
Plate = pool.get('dualrec.plate')
bound, sold = Plate.search([], order=[('serial', 'ASC')], limit=2)
with without_check_access():
    Plate.write([bound, sold], {{'state': 'sold'}})
with Transaction().set_context(company=bound.company.id):
    bound.bind('粤A12345', {OWNER!r}, 'staff')
print('PAYLOAD', sign_serial(plate_key(), bound.serial))
print('PAYLOAD', sign_serial(plate_key(), sold.serial))
"""


class PlateScanTestCase(unittest.TestCase):
    "Test the scan page of the plates on a phone"

    @classmethod
    def setUpClass(cls):
        from playwright.sync_api import sync_playwright
        cls.server = LiveServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.bound, cls.sold = re.findall(r'PAYLOAD (\S+)',
            cls.server.run_python(SET_UP))
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        cls.addClassCleanup(cls.browser.close)
        ARTIFACTS.mkdir(exist_ok=True)

    def open(self, payload):
        page = self.browser.new_page(viewport={'width': 390, 'height': 844},
            device_scale_factor=2, is_mobile=True, has_touch=True)
        page.set_default_timeout(30000)
        self.addCleanup(page.close)
        response = page.goto(
            f'{self.server.url}/{self.server.database}/dualrec/m/{payload}')
        return page, response

    def assertNoOwner(self, page):
        content = page.content()
        self.assertNotIn(OWNER, content.replace(' ', ''))
        self.assertNotIn(OWNER[3:], content)

    def test_bound_and_call(self):
        "A bound plate offers to call or text; the call shows X only"
        page, response = self.open(self.bound)
        self.assertEqual(response.status, 200)
        self.assertLess(len(response.body()), 50 * 1024)
        body = page.inner_text('body')
        for text in ['请挪车', '呼叫车主', '发送挪车短信', '粤A***45']:
            self.assertIn(text, body)
        self.assertNoOwner(page)
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_bound.png'),
            full_page=True)
        page.get_by_role('button', name='呼叫车主').click()
        page.wait_for_selector('a[href^="tel:"]')
        self.assertIn('请拨打隐私号码', page.inner_text('body'))
        self.assertNoOwner(page)
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_call.png'),
            full_page=True)

    def test_unbound(self):
        "A sold plate not bound shows the owner's binding form"
        page, response = self.open(self.sold)
        self.assertEqual(response.status, 200)
        self.assertIn('该挪车牌尚未绑定', page.inner_text('body'))
        self.assertTrue(page.locator('input[name=phone]').is_visible())
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_unbound.png'),
            full_page=True)

    def test_forged(self):
        "A forged QR code gets a 404 page with a clear message"
        forged = self.bound[:-2] + ('AA' if self.bound[-2:] != 'AA'
            else 'BB')
        page, response = self.open(forged)
        self.assertEqual(response.status, 404)
        self.assertIn('二维码无效', page.inner_text('body'))
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_forged.png'),
            full_page=True)

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The staff web client (sao) in headless Chromium, as a user sees it."""
import os
import re
import sys
import time
import unittest
from pathlib import Path

from .server import PASSWORD, ROOT, LiveServer

CHROMIUM = '/usr/bin/chromium'
ARTIFACTS = ROOT / 'test-artifacts'
CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync']


class WebClientTestCase(unittest.TestCase):
    "Test the Chinese staff web client"

    @classmethod
    def setUpClass(cls):
        from playwright.sync_api import sync_playwright
        if (os.environ.get('DUALREC_TEST_BACKEND') == 'postgresql'
                and not os.environ.get('DUALREC_BROWSER_PG')):
            # the screens are the same on both backends: the browser tests
            # run once, on SQLite (DUALREC_BROWSER_PG=1 runs them here too)
            raise unittest.SkipTest("browser tests run on SQLite")
        cls.server = LiveServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        cls.addClassCleanup(cls.browser.close)
        ARTIFACTS.mkdir(exist_ok=True)

    def login(self, page, login):
        "Log in through sao's two dialogs and wait for the menu"
        page.goto(self.server.url + '/')
        page.wait_for_selector('input#login', state='visible')
        # the list of databases comes later; on PostgreSQL it holds every
        # database of the server (other test runs' too): choose ours.  With
        # a single database sao hides the choice.
        choice = page.locator('select#database')
        typed = page.locator('input#database')
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if choice.is_visible():
                choice.select_option(self.server.database)
                break
            if typed.is_visible():
                # a single database is shown read-only
                if typed.is_editable():
                    typed.fill(self.server.database)
                break
            page.wait_for_timeout(250)
        page.fill('input#login', login)
        page.click('button[type=submit]')
        page.wait_for_selector('input[type=password]', state='visible')
        page.fill('input[type=password]', PASSWORD)
        page.keyboard.press('Enter')
        # the first login loads the whole client: be patient on a busy CI
        page.wait_for_selector(
            '#menu tbody tr', state='visible', timeout=90000)

    def new_page(self, name):
        """A page whose screenshot, text and server log are kept when the
        test fails, to see what the user saw"""
        page = self.browser.new_page(viewport={'width': 1366, 'height': 768})
        # a loaded 2-core CI machine can be slow: wait long, fail clearly
        page.set_default_timeout(60000)
        messages = []
        page.on('console', lambda m: messages.append(f'{m.type}: {m.text}'))
        page.on('pageerror', lambda e: messages.append(f'error: {e}'))
        page.on('requestfailed', lambda r: messages.append(
                f'failed: {r.method} {r.url} {r.failure}'))

        def close():
            # cleanups run in a fresh part of the outcome: ask the result
            result = self._outcome.result
            if any(test is self for test, _ in
                    result.errors + result.failures):
                page.screenshot(path=str(ARTIFACTS / f'{name}_failure.png'))
                sys.stderr.write('\n--- page text ---\n'
                    + page.inner_text('body')[:2000]
                    + '\n--- console ---\n' + '\n'.join(messages[-30:])
                    + '\n--- server log ---\n' + self.server.log_tail())
            page.close()
        self.addCleanup(close)
        return page

    def test_branch_tree_in_chinese(self):
        "The zh_CN administrator browses the branch tree with Chinese menus"
        page = self.new_page('branch_tree')
        self.login(page, 'sysadmin')
        menu = page.locator('.menu-tree, #menu').first
        menu.get_by_text('双录管理', exact=True).wait_for()
        menu.get_by_text('双录管理', exact=True).click()
        menu.get_by_text('组织机构', exact=True).click()
        province = page.locator('tr', has_text='广东分公司').first
        province.wait_for()
        province.locator('.expander').click()
        page.get_by_text('广州中心支公司', exact=True).wait_for()
        page.screenshot(path=str(ARTIFACTS / 'branch_tree_zh_CN.png'))

        body = page.inner_text('body')
        for label in ['双录管理', '组织机构', '话术', '配置', '省级', '市级']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('Dual Recording', body)
        self.assertGreater(
            Path(ARTIFACTS / 'branch_tree_zh_CN.png').stat().st_size, 10000)

    def test_salesperson_tickets_masked(self):
        "The salesperson sees only his tickets, personal data masked"
        page = self.new_page('sales_tickets')
        self.login(page, 'sales')
        menu = page.locator('#menu')
        menu.get_by_text('双录管理', exact=True).click()
        menu.get_by_text('业务单据', exact=True).click()
        row = page.locator('tr', has_text='陈国强').first
        row.wait_for()
        page.screenshot(path=str(ARTIFACTS / 'sales_tickets_zh_CN.png'))

        body = page.inner_text('body')
        for label in ['全部', '待录制', '待审核', '已驳回', '已完成',
                '投保人', '证件号码', '草稿']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        # masked: the salesperson has no unmask right
        self.assertIn('440***********0013', body)
        self.assertNotIn('440106195803120013', body)
        self.assertNotIn('13800138000', body)
        # the other salesperson's ticket stays out of sight
        self.assertIn('黄晓梅', body)
        self.assertNotIn('周建华', body)

    def test_manager_audit_log(self):
        "The manager reads the audit log list: every cell, no #错误"
        page = self.new_page('manager_audit_log')
        self.login(page, 'manager')
        menu = page.locator('#menu')
        menu.get_by_text('双录管理', exact=True).click()
        menu.get_by_text('审计日志', exact=True).click()
        # the demo's administrator made the data: entries of users out of
        # the manager's record rules
        page.locator('tr', has_text='登录').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'manager_audit_log_zh_CN.png'))
        body = page.inner_text('body')
        self.assertNotIn('#错误', body)
        self.assertNotIn('#ERROR', body)
        for label in ['用户', '操作', '登录']:
            with self.subTest(label=label):
                self.assertIn(label, body)

    def open_menu(self, page, *labels):
        menu = page.locator('#menu')
        for label in labels:
            menu.get_by_text(label, exact=True).first.click()

    def test_order_center_list_and_trace(self):
        "The order center lists the demo orders and reads one's trace"
        page = self.new_page('orders_list')
        self.login(page, 'orders')
        self.open_menu(page, '订单中心', '订单')
        page.locator('tr', has_text='SO').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'orders_list_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['订单号', '结算对象', '价税合计', '草稿', '已确认',
                '已开票', '滞留', '全部']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)

        page.locator('.nav-tabs a, a[role=tab]', has_text='已开票').first.click()
        page.wait_for_timeout(1000)
        page.locator('tbody tr', has_text='SO').first.dblclick()
        page.get_by_text('订单轨迹', exact=True).first.click()
        page.locator('tr', has_text='已开票').last.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'order_trace_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['原状态', '新状态', '草稿', '已确认', '已开票']:
            with self.subTest(label=label):
                self.assertIn(label, body)

    def test_manager_analysis(self):
        "The manager reads the order figures and usage habits of his scope"
        page = self.new_page('orders_analysis')
        self.login(page, 'manager')
        self.open_menu(page, '订单中心', '分析', '订单统计')
        page.get_by_text('价税合计').first.wait_for()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / 'orders_figures_zh_CN.png'))
        body = page.inner_text('body')
        self.assertNotIn('#错误', body)
        self.assertIn('月份', body)
        self.open_menu(page, '使用习惯')
        page.get_by_text('使用时段').first.wait_for()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / 'orders_usage_zh_CN.png'))
        self.assertNotIn('#错误', page.inner_text('body'))

    def test_finance_statements(self):
        "Finance lists the demo statements and opens a settled one"
        page = self.new_page('finance_statements')
        self.login(page, 'finance')
        self.open_menu(page, '财务中心', '对账单')
        page.locator('.nav-tabs a, a[role=tab]', has_text='全部').first.click()
        page.locator('tr', has_text='DZ').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'finance_statements_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['编号', '对方单位', '价税合计', '已结算', '已开票',
                '已确认', '已发送']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)
        page.locator('tbody tr', has_text='已结算').first.dblclick()
        page.get_by_text("金额大写", exact=False).first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / 'finance_statement_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['明细', '订单', '不含税金额', '税额']:
            with self.subTest(label=label):
                self.assertIn(label, body)

    def test_valueadd_batches_and_coupons(self):
        "Value-added staff list the batches, open one and list its coupons"
        page = self.new_page('valueadd_batches')
        self.login(page, 'valueadd')
        self.open_menu(page, '增值服务', '券批次')
        page.locator('.nav-tabs a, a[role=tab]', has_text='全部').first.click()
        page.locator('tr', has_text='QP').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'valueadd_batches_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['批次号', '发券方', '已发券', '已核销', '启用']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)
        page.locator('tbody tr td', has_text='QP').first.dblclick()
        page.get_by_text('适用范围', exact=False).first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / 'valueadd_batch_zh_CN.png'))
        page.locator('#menu :text-is("优惠券"):visible').first.click()
        page.locator('a[role=tab]:visible', has_text='全部').first.click()
        page.locator('tbody tr').nth(5).wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'valueadd_coupons_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['券码', '车牌号', '失效日期', '已发放', '已核销']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)
        # a bound coupon shows its owner's phone masked
        page.locator('tbody tr td', has_text='粤').first.dblclick()
        page.get_by_text('核销记录', exact=True).last.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / 'valueadd_coupon_zh_CN.png'))
        values = [page.locator('input').nth(i).input_value()
            for i in range(page.locator('input').count())]
        self.assertTrue(any(re.fullmatch(r'1\d\d\*{4}\d{4}', v)
                for v in values), values)

    def test_plate_batches(self):
        "Plate staff list the plate batches and open the demo batch"
        page = self.new_page('plate_batches')
        self.login(page, 'plates')
        self.open_menu(page, '增值服务', '智能挪车牌', '挪车牌批次')
        page.locator('tr', has_text='NCB').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'plate_batches_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['起始序列号', '结束序列号', '数量', '已生产', '1000']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)
        page.locator('tbody tr td', has_text='NCB').first.dblclick()
        page.locator('td', has_text='000001').first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / 'plate_batch_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['生产日期', '起始序列号', '已绑定', '业务员']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        values = [page.locator('input').nth(i).input_value()
            for i in range(page.locator('input').count())]
        self.assertIn('[NC-STD] 智能挪车牌（标准款）', values)
        self.assertTrue(any(re.fullmatch(r'NC\d{4}001000', v)
                for v in values))

    def test_plate_purchases_and_figures(self):
        """Plate staff list the insurers' purchases, open the merged one
        and read the plate figures"""
        page = self.new_page('plate_purchases')
        self.login(page, 'plates')
        self.open_menu(page, '增值服务', '智能挪车牌', '保司采购')
        page.locator('tr', has_text='NCP').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'plate_purchases_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['合并结算', '单独结算', '瑞丰财产保险股份有限公司', '已确认',
                '2,475.00']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)
        page.locator('tbody tr td', has_text='合并结算').first.dblclick()
        page.locator('td', has_text='已绑定').first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / 'plate_purchase_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['结算方式', '单价（含税）', '业务员 林晓燕']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.open_menu(page, '挪车牌统计')
        page.locator('tr', has_text='业务员 陈志明').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'plate_figures_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['绑定率（%）', '已售未绑定', '48.00']:
            with self.subTest(label=label):
                self.assertIn(label, body)

    def test_finance_fapiao(self):
        "Finance lists the fapiao requests and opens the issued one"
        page = self.new_page('finance_fapiao')
        self.login(page, 'finance')
        self.open_menu(page, '财务中心', '开票申请')
        page.locator('.nav-tabs a, a[role=tab]', has_text='全部').first.click()
        page.locator('tr', has_text='KP').first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / 'finance_fapiao_list_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['开票申请号', '发票号码', '价税合计', '已开具', '草稿',
                '数电普票']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('#错误', body)
        page.locator('tbody tr', has_text='已开具').first.dblclick()
        page.get_by_text("购买方纳税人识别号", exact=False).first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / 'finance_fapiao_zh_CN.png'))
        body = page.inner_text('body')
        for label in ['开票日期', '红字', '发票单据', '对账单']:
            with self.subTest(label=label):
                self.assertIn(label, body)
    # The public scan page of a plate, on a phone, as a passer-by sees it
    # (the demo's bound and sold plates, its simulated providers)

    def scan_payloads(self):
        "Return the signed payloads of a bound and of a sold demo plate."
        cls = type(self)
        if not hasattr(cls, '_scan_payloads'):
            output = self.server.run_python(SCAN_PAYLOADS)
            cls._scan_payloads = dict(re.findall(r'PAYLOAD (\w+) (\S+)',
                    output))
        return cls._scan_payloads

    def open_scan(self, payload):
        page = self.browser.new_page(viewport={'width': 390, 'height': 844},
            device_scale_factor=2, is_mobile=True, has_touch=True)
        page.set_default_timeout(30000)
        self.addCleanup(page.close)
        response = page.goto(
            f'{self.server.url}/{self.server.database}/dualrec/m/{payload}')
        return page, response

    def assertNoOwner(self, page, phone):
        content = page.content()
        self.assertNotIn(phone, content.replace(' ', ''))
        self.assertNotIn(phone[3:], content)

    def test_plate_scan_bound_and_call(self):
        "A bound plate offers to call or text; the call shows X only"
        payloads = self.scan_payloads()
        page, response = self.open_scan(payloads['bound'])
        self.assertEqual(response.status, 200)
        self.assertLess(len(response.body()), 50 * 1024)
        body = page.inner_text('body')
        for text in ['请挪车', '呼叫车主', '发送挪车短信', '***']:
            self.assertIn(text, body)
        self.assertNoOwner(page, payloads['phone'])
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_bound.png'),
            full_page=True)
        page.get_by_role('button', name='呼叫车主').click()
        page.wait_for_selector('a[href^="tel:"]')
        self.assertIn('请拨打隐私号码', page.inner_text('body'))
        self.assertNoOwner(page, payloads['phone'])
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_call.png'),
            full_page=True)

    def test_plate_scan_unbound(self):
        "A sold plate not bound shows the owner's binding form"
        page, response = self.open_scan(self.scan_payloads()['sold'])
        self.assertEqual(response.status, 200)
        self.assertIn('该挪车牌尚未绑定', page.inner_text('body'))
        self.assertTrue(page.locator('input[name=phone]').is_visible())
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_unbound.png'),
            full_page=True)

    def test_plate_scan_forged(self):
        "A forged QR code gets a 404 page with a clear message"
        bound = self.scan_payloads()['bound']
        forged = bound[:-2] + ('AA' if bound[-2:] != 'AA' else 'BB')
        page, response = self.open_scan(forged)
        self.assertEqual(response.status, 404)
        self.assertIn('二维码无效', page.inner_text('body'))
        page.screenshot(path=str(ARTIFACTS / 'plate_scan_forged.png'),
            full_page=True)


SCAN_PAYLOADS = """
from dualrec.plate import sign_serial
from trytond.modules.dualrec_valueadd.plate import plate_key
from trytond.transaction import without_check_access
Plate = pool.get('dualrec.plate')
with without_check_access():
    bound, = Plate.search([('state', '=', 'bound')], limit=1)
    sold, = Plate.search([('state', '=', 'sold')], limit=1)
    print('PAYLOAD phone', bound.owner_phone())
print('PAYLOAD bound', sign_serial(plate_key(), bound.serial))
print('PAYLOAD sold', sign_serial(plate_key(), sold.serial))
"""

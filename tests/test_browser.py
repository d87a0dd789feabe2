# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The staff web client (sao) in headless Chromium, as a user sees it."""
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
        cls.server = LiveServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        cls.addClassCleanup(cls.browser.close)
        ARTIFACTS.mkdir(exist_ok=True)

    def login(self, page, login):
        page.goto(self.server.url + '/')
        page.fill('input#login', login)
        page.click('button[type=submit]')
        page.wait_for_selector('input[type=password]', state='visible')
        page.fill('input[type=password]', PASSWORD)
        page.keyboard.press('Enter')

    def test_branch_tree_in_chinese(self):
        "The zh_CN administrator browses the branch tree with Chinese menus"
        page = self.browser.new_page(viewport={'width': 1366, 'height': 768})
        self.addCleanup(page.close)
        self.login(page, 'sysadmin')
        menu = page.locator('.menu-tree, #menu').first
        menu.get_by_text('双录管理', exact=True).wait_for(timeout=30000)
        menu.get_by_text('双录管理', exact=True).click()
        menu.get_by_text('组织机构', exact=True).click()
        province = page.locator('tr', has_text='广东分公司').first
        province.wait_for(timeout=30000)
        province.locator('.expander').click()
        page.get_by_text('广州中心支公司', exact=True).wait_for(timeout=30000)
        page.screenshot(path=str(ARTIFACTS / 'branch_tree_zh_CN.png'))

        body = page.inner_text('body')
        for label in ['双录管理', '组织机构', '话术', '配置', '省级', '市级']:
            with self.subTest(label=label):
                self.assertIn(label, body)
        self.assertNotIn('Dual Recording', body)
        self.assertGreater(
            Path(ARTIFACTS / 'branch_tree_zh_CN.png').stat().st_size, 10000)

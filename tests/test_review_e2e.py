# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A reviewer's day in the web client: a recording processed by the worker
with its automatic checks, the review player, the review wizard."""
import datetime as dt
import hashlib
import tempfile
import time
import unittest
from pathlib import Path

import requests

from dualrec import testing

from .server import PASSWORD, LiveServer, sql
from . import test_browser
from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS


class ReviewWebTestCase(unittest.TestCase):
    "Test review in the web client and the review player"

    # not imported by name: unittest would run its tests here too
    login = test_browser.WebClientTestCase.login
    new_page = test_browser.WebClientTestCase.new_page

    @classmethod
    def setUpClass(cls):
        from playwright.sync_api import sync_playwright
        cls.server = LiveServer(worker=True).start()
        cls.addClassCleanup(cls.server.stop)
        cls.base = (f'{cls.server.url}/{cls.server.database}'
            '/dualrec/api/v1')
        cls.token = requests.post(cls.base + '/login',
            json={'login': 'sales', 'password': PASSWORD},
            timeout=30).json()['token']
        directory = tempfile.TemporaryDirectory()
        cls.addClassCleanup(directory.cleanup)
        # two people in the picture, then a black stretch: 'black' fails
        cls.clip = Path(directory.name) / 'recording.mp4'
        testing.generate_recording(str(cls.clip), 14, black=(5, 9))
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        cls.addClassCleanup(cls.browser.close)
        ARTIFACTS.mkdir(exist_ok=True)

    def call(self, method, path, **kwargs):
        headers = {'Authorization': f'Bearer {self.token}',
            'Accept-Language': 'zh-CN', **kwargs.pop('headers', {})}
        return requests.request(method, self.base + path, headers=headers,
            timeout=60, **kwargs)

    def recorded_ticket(self):
        "A ticket of the demo salesperson with a processed recording."
        products = self.call('GET', '/products').json()
        product = next(p for p in products if p['code'] == 'LIFE-001')
        nodes = product['script']['nodes']
        ticket = self.call('POST', '/tickets', json={
                'task_number': 'T-REVIEW', 'product': product['id'],
                'policyholder_name': "王五", 'id_type': 'resident_id',
                'id_number': '11010519491231002X'}).json()
        start = dt.datetime.now(dt.timezone.utc)
        timeline = [{
                'node': node['id'],
                'started_at': (start + dt.timedelta(seconds=2 * i)
                    ).isoformat(),
                'confirmed_at': (start + dt.timedelta(seconds=2 * i + 2)
                    ).isoformat(),
                } for i, node in enumerate(nodes)]
        data = self.clip.read_bytes()
        upload = self.call('POST', '/uploads', json={
                'ticket': ticket['id'], 'size': len(data),
                'sha256': hashlib.sha256(data).hexdigest(),
                'content_type': 'video/mp4', 'timeline': timeline}).json()
        self.call('PUT', f"/uploads/{upload['id']}?offset=0", data=data,
            headers={'Content-Type': 'application/octet-stream'})
        recording = self.call('POST',
            f"/uploads/{upload['id']}/complete").json()['recording']
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            recording = self.call('GET',
                f"/recordings/{recording['id']}").json()
            if recording['status'] in {'ready', 'failed'}:
                break
            time.sleep(0.5)
        self.assertEqual(recording['status'], 'ready', recording)
        self.server.run_python(
            "Ticket = pool.get('dualrec.ticket')\n"
            f"Ticket.submit([Ticket({ticket['id']})])")
        return ticket, recording

    def test_review_in_web_client(self):
        "A reviewer plays the recording by node and approves with a comment"
        ticket, recording = self.recorded_ticket()
        checks = dict(sql(self.server,
                'SELECT code, result FROM dualrec_recording_check '
                'WHERE recording = ?', (recording['id'],)))
        self.assertEqual(checks['black'], 'fail')
        self.assertEqual(checks['faces'], 'pass')
        self.assertEqual(len(checks), 8)

        # the player: the nodes beside the video, a click seeks
        reviewer, = sql(self.server,
            "SELECT id FROM res_user WHERE login = 'reviewer'")[0]
        url = self.server.run_python(
            "Recording = pool.get('dualrec.recording')\n"
            f"with Transaction().set_user({reviewer}):\n"
            f"    action = Recording.review_play([Recording("
            f"{recording['id']})])\n"
            "print(action['url'])").strip()
        page = self.new_page('review_player')
        # the link plays only in a browser logged in as its user
        self.login(page, 'reviewer')
        page.goto(self.server.url + url)
        page.wait_for_function(
            "document.querySelector('video').readyState >= 1")
        buttons = page.locator('#nodes button')
        self.assertGreaterEqual(buttons.count(), 3)
        buttons.nth(2).click()
        page.wait_for_function(
            "Math.abs(document.querySelector('video').currentTime - 4) < 1")
        self.assertIn('黑屏', page.inner_text('body'))
        page.screenshot(path=str(ARTIFACTS / 'review_player.png'))

        # the review in sao
        page = self.new_page('review_wizard')
        self.login(page, 'reviewer')
        menu = page.locator('#menu')
        menu.get_by_text('双录管理', exact=True).click()
        menu.get_by_text('业务单据', exact=True).click()
        page.locator('tr', has_text='王五').first.wait_for()
        page.get_by_text('待审核', exact=False).first.click()
        # the tab reloads the list: wait until sao is done with it
        page.wait_for_load_state('networkidle')
        row = page.locator('tr', has_text='王五').first
        row.wait_for()
        page.screenshot(path=str(ARTIFACTS / 'review_pending_list.png'))
        row.dblclick()
        # the form is drawn before its record is read: wait for the record
        page.wait_for_function("[...document.querySelectorAll('input')]"
            ".some((input) => input.value === '王五')")
        page.get_by_role('button', name='审核', exact=True).click()
        dialog = page.locator('.modal-dialog').last
        dialog.get_by_text('自动检测').first.wait_for()
        page.screenshot(path=str(ARTIFACTS / 'review_wizard.png'))
        # a failed check: approving needs a comment
        dialog.locator('textarea').fill("黑屏为客户签字时遮挡镜头，已电话核实")
        dialog.get_by_role('button', name='通过', exact=True).click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state, = sql(self.server,
                'SELECT state FROM dualrec_ticket WHERE id = ?',
                (ticket['id'],))[0]
            if state != 'pending':
                break
            time.sleep(0.5)
        self.assertEqual(state, 'approved')
        decision, comment = sql(self.server,
            'SELECT decision, comment FROM dualrec_review '
            'WHERE ticket = ?', (ticket['id'],))[0]
        self.assertEqual(decision, 'approve')
        self.assertIn('电话核实', comment)
        page.screenshot(path=str(ARTIFACTS / 'review_approved.png'))


if __name__ == '__main__':
    unittest.main()

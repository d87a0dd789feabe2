# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dualrec.fapiao import check_number
from dualrec.fapiao_provider import HttpFapiaoProvider, ProviderError
from dualrec.fapiao_sim import FapiaoSimulator

TODAY = dt.date(2026, 12, 2)


def request(no, tax_id='91110000600037341L', callback_url=None):
    return {
        'request_no': no, 'kind': 'digital_normal',
        'buyer_name': '北京某某保险股份有限公司', 'buyer_tax_id': tax_id,
        'remark': '', 'total': '106.00', 'callback_url': callback_url,
        'lines': [{'name': '洗车服务', 'tax_code': '3040201990000000000',
                'quantity': '1', 'unit_price': '106.00', 'tax_rate': '0.06',
                'amount': '106.00'}]}


class Receiver:
    "A callback endpoint that records what it receives."

    def __init__(self):
        self.received = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers['Content-Length'])
                receiver.received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()
                receiver.event.set()

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/cb'

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ProviderTestCase(unittest.TestCase):

    def start(self, **kwargs):
        simulator = FapiaoSimulator(today=lambda: TODAY, **kwargs).start()
        self.addCleanup(simulator.stop)
        return simulator, HttpFapiaoProvider(simulator.url, timeout=5)

    def test_issue_success_by_polling(self):
        "Issuing answers issuing, polling returns the issued fapiao."
        simulator, provider = self.start(polls=2)
        status = provider.issue(request('R1'))
        self.assertEqual(status.state, 'issuing')
        self.assertEqual(provider.query('R1').state, 'issuing')
        status = provider.query('R1')
        self.assertEqual(status.state, 'issued')
        self.assertEqual(check_number('digital_normal', status.number),
            (status.number, None))
        self.assertEqual(status.date, '2026-12-02')
        self.assertEqual(set(status.files), {'pdf', 'ofd', 'xml'})

    def test_failure_cause(self):
        "A flagged buyer tax id fails with its cause."
        simulator, provider = self.start(
            polls=1, fail_tax_ids={'91110000600037341L'})
        provider.issue(request('R1'))
        status = provider.wait('R1', timeout=2, interval=0.01)
        self.assertEqual(status.state, 'failed')
        self.assertTrue(status.cause)
        self.assertIsNone(status.number)

    def test_callback_before_poll(self):
        "After the delay the callback brings the result without a poll."
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        simulator, provider = self.start(polls=None, delay=0.05)
        provider.issue(request('R1', callback_url=receiver.url))
        self.assertTrue(receiver.event.wait(5))
        self.assertEqual(receiver.received[0]['state'], 'issued')
        self.assertEqual(simulator.queries['R1'], 0)
        self.assertEqual(provider.query('R1').number,
            receiver.received[0]['number'])

    def test_poll_after_timeout(self):
        "Without callback, wait polls until the fapiao is issued."
        simulator, provider = self.start(polls=3)
        provider.issue(request('R1', callback_url='http://127.0.0.1:9/x'))
        status = provider.wait('R1', timeout=5, interval=0.01)
        self.assertEqual(status.state, 'issued')
        self.assertEqual(simulator.queries['R1'], 3)

    def test_wait_gives_up(self):
        "wait returns the issuing status at its timeout."
        simulator, provider = self.start(polls=None)
        provider.issue(request('R1'))
        status = provider.wait('R1', timeout=0.05, interval=0.01)
        self.assertEqual(status.state, 'issuing')

    def test_duplicate_request_no(self):
        "The same request number never issues a second fapiao."
        simulator, provider = self.start(polls=1)
        provider.issue(request('R1'))
        first = provider.query('R1')
        again = provider.issue(request('R1'))
        self.assertEqual(again.number, first.number)
        self.assertEqual(simulator.sequence, 1)
        self.assertEqual(len(simulator.statuses), 1)

    def test_void(self):
        "An issued fapiao can be voided, an unknown one is refused."
        simulator, provider = self.start(polls=1)
        provider.issue(request('R1'))
        provider.query('R1')
        self.assertEqual(provider.void('R1').state, 'voided')
        with self.assertRaises(ProviderError):
            provider.void('R2')

    def test_red_letter(self):
        "A red letter records a confirmation then issues the red fapiao."
        simulator, provider = self.start(polls=1)
        provider.issue(request('R1'))
        blue = provider.query('R1')
        red = provider.red_letter(blue.number, 'R1-RED', reason='refund')
        self.assertTrue(red.red)
        self.assertTrue(red.confirmation)
        self.assertEqual(red.blue_number, blue.number)
        red = provider.query('R1-RED')
        self.assertEqual(red.state, 'issued')
        self.assertNotEqual(red.number, blue.number)
        self.assertEqual(
            provider.red_letter(blue.number, 'R1-RED').number, red.number)
        with self.assertRaises(ProviderError):
            provider.red_letter('26449999999999999999', 'R2-RED')

    def test_unreachable(self):
        "An unreachable provider raises ProviderError."
        provider = HttpFapiaoProvider('http://127.0.0.1:9', timeout=1)
        with self.assertRaises(ProviderError) as cm:
            provider.query('R1')
        self.assertEqual(cm.exception.code, 'fapiao_provider_unreachable')

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A local fapiao provider for tests: the HTTP protocol of
HttpFapiaoProvider served by http.server in a thread on a free port.

Issuing is asynchronous: a request becomes issued (or failed when its buyer
tax id is in ``fail_tax_ids``) on the ``polls``-th query, or ``delay``
seconds after it was sent, or when the test calls ``complete``; a callback
POST then goes to the request's ``callback_url`` (or to ``deliver``, which a
test gives to call the WSGI application in process).  A request number sent
twice returns the first fapiao.
"""
import base64
import datetime as dt
import json
import threading
import urllib.request

from dualrec.fapiao_provider import (
    FAILED, ISSUED, ISSUING, VOIDED, FapiaoStatus)
from dualrec.simserver import JsonHandler, SimulatorServer

__all__ = ['FapiaoSimulator']


class FapiaoSimulator(SimulatorServer):

    def __init__(self, polls=2, delay=None, fail_tax_ids=(),
            region='44', today=None, deliver=None):
        self.polls = polls
        self.delay = delay
        self.fail_tax_ids = set(fail_tax_ids)
        self.region = region
        self.today = today or dt.date.today
        # deliver(url, payload) sends a callback; default: an HTTP POST
        self.deliver = deliver or self._post
        self.requests = {}      # request_no → request dict
        self.statuses = {}      # request_no → FapiaoStatus
        self.queries = {}       # request_no → number of queries
        self.callbacks = []     # (url, payload) sent
        self.issue_calls = 0
        self.sequence = 0
        self.lock = threading.RLock()
        self.server = None

    # life cycle
    def start(self, port=0):
        simulator = self

        class Handler(JsonHandler):
            def do_GET(self):
                parts = self.path.strip('/').split('/')
                if len(parts) == 2 and parts[0] == 'invoices':
                    status = simulator.query(parts[1])
                    if status:
                        return self._answer(200, status.to_dict())
                self._answer(404, {'error': 'unknown request'})

            def do_POST(self):
                payload = json.loads(self._body() or b'{}')
                parts = self.path.strip('/').split('/')
                if parts == ['invoices']:
                    status = simulator.issue(payload)
                elif len(parts) == 3 and parts[::2] == ['invoices', 'void']:
                    status = simulator.void(parts[1])
                elif parts == ['red-letters']:
                    status = simulator.red_letter(payload)
                else:
                    return self._answer(404, {'error': 'unknown path'})
                if status is None:
                    return self._answer(409, {'error': 'refused'})
                self._answer(200, status.to_dict())

        return self.serve(Handler, port, poll_interval=0.05)

    # behaviour
    def issue(self, request, red=False, blue_number=None):
        with self.lock:
            self.issue_calls += 1
            request_no = request['request_no']
            if request_no in self.statuses:
                return self.statuses[request_no]
            self.requests[request_no] = request
            status = FapiaoStatus(request_no, ISSUING, red=red,
                blue_number=blue_number)
            self.statuses[request_no] = status
            self.queries[request_no] = 0
        if self.delay is not None:
            timer = threading.Timer(self.delay, self.complete, [request_no])
            timer.daemon = True
            timer.start()
        return status

    def query(self, request_no):
        with self.lock:
            status = self.statuses.get(request_no)
            if status is None:
                return None
            self.queries[request_no] += 1
            if (status.state == ISSUING and self.polls is not None
                    and self.queries[request_no] >= self.polls):
                self.complete(request_no, callback=False)
            return status

    def complete(self, request_no, callback=True):
        "Finish issuing ``request_no`` and send its callback."
        with self.lock:
            status = self.statuses[request_no]
            if status.state != ISSUING:
                return status
            request = self.requests[request_no]
            if request.get('buyer_tax_id') in self.fail_tax_ids:
                status.state = FAILED
                status.cause = 'The buyer tax id is not registered.'
            else:
                self.sequence += 1
                today = self.today()
                status.state = ISSUED
                if str(request.get('kind', '')).startswith('paper'):
                    # a legacy fapiao: 12-digit code, 8-digit number
                    status.code = f'0{self.region}00{today:%y}00001'[:12]
                    status.number = f'{self.sequence:08d}'
                else:
                    status.number = (f'{today:%y}{self.region}2'
                        f'{self.sequence:015d}')
                status.date = today.isoformat()
                status.files = {kind: base64.b64encode(
                            f'{kind} {status.number}'.encode()).decode()
                    for kind in ('pdf', 'ofd', 'xml')}
        url = request.get('callback_url')
        if callback and url:
            self._callback(url, status.to_dict())
        return status

    def _callback(self, url, payload):
        self.callbacks.append((url, payload))
        self.deliver(url, payload)

    @staticmethod
    def _post(url, payload):
        try:
            urllib.request.urlopen(urllib.request.Request(
                    url, data=json.dumps(payload).encode(),
                    headers={'Content-Type': 'application/json'}),
                timeout=5).close()
        except OSError:
            pass  # the client polls as well

    def void(self, request_no):
        with self.lock:
            status = self.statuses.get(request_no)
            if status is None or status.state != ISSUED:
                return None
            status.state = VOIDED
            return status

    def red_letter(self, payload):
        with self.lock:
            blue = [s for s in self.statuses.values()
                if s.number == payload.get('blue_number')
                and s.state == ISSUED and not s.red]
            if not blue:
                return None
            existing = self.statuses.get(payload['request_no'])
            if existing:
                return existing
            request = dict(self.requests[blue[0].request_no],
                request_no=payload['request_no'],
                callback_url=payload.get('callback_url'))
            status = self.issue(request, red=True,
                blue_number=payload['blue_number'])
            status.confirmation = f'HZ{payload["request_no"]}'
            return status

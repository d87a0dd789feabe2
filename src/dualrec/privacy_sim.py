# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A local privacy-number provider for tests and the demo.

PrivacySimulator implements PrivacyProvider in process (the demo's
"simulator" provider) and serves the protocol of HttpPrivacyProvider with
http.server in a thread on a free port (``start``), checking each request's
signature.  Its number pool is ``numbers``; a binding holds its X until it
expires or is unbound.  With ``extensions`` every AXN binding shares the
first number and gets a 4-digit extension, as the AXN-extension products
do.  ``route(x, caller, extension)`` tells whom a call to X would reach,
so a test can check the routing.
"""
import datetime as dt
import json
import threading

from .privacy import (
    PrivacyBinding, PrivacyError, PrivacyProvider, check_number, parse_time,
    verify_request)
from .simserver import JsonHandler, SimulatorServer

__all__ = ['PrivacySimulator']


def _utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class PrivacySimulator(SimulatorServer, PrivacyProvider):

    def __init__(self, numbers=None, secret='simulator-secret',
            extensions=False, now=_utcnow, max_minutes=24 * 60):
        self.numbers = list(numbers or
            [f'1700000{n:04d}' for n in range(1, 21)])
        self.secret = secret
        self.extensions = extensions
        self.now = now
        self.max_minutes = max_minutes
        self.bindings = {}          # binding id → (PrivacyBinding, a, b)
        self.calls = []             # ('bind_axn'|'bind_axb'|'unbind', …)
        self.sequence = 0
        self.lock = threading.RLock()
        self.server = None
        self.fail = None            # a code to refuse the next binds with

    # the provider's calls
    def _sweep(self):
        now = self.now()
        for key, (binding, _, _) in list(self.bindings.items()):
            if binding.expires_at <= now:
                del self.bindings[key]

    def _bind(self, kind, a, b, expires_at, out_id):
        with self.lock:
            self.calls.append((f'bind_{kind}', out_id))
            if self.fail:
                raise PrivacyError(self.fail, f'simulated {self.fail}')
            a = check_number(a)
            if b is not None:
                b = check_number(b, 'b')
            now = self.now()
            if not isinstance(expires_at, dt.datetime) \
                    or expires_at <= now or expires_at > now + dt.timedelta(
                        minutes=self.max_minutes):
                raise PrivacyError('bad_expiry',
                    "The expiry is in the future, within a day.")
            self._sweep()
            extension = None
            if kind == 'axn' and self.extensions:
                secret_no = self.numbers[0]
                used = {bd.extension for bd, _, _ in self.bindings.values()
                    if bd.secret_no == secret_no}
                extension = next((f'{n:04d}' for n in range(1, 10000)
                        if f'{n:04d}' not in used), None)
                if extension is None:
                    raise PrivacyError('no_number_available',
                        "No extension is left.")
            else:
                used = {bd.secret_no for bd, _, _ in self.bindings.values()}
                secret_no = next((n for n in self.numbers if n not in used),
                    None)
                if secret_no is None:
                    raise PrivacyError('no_number_available',
                        "No virtual number is left in the pool.")
            self.sequence += 1
            binding = PrivacyBinding(binding_id=f'SIM{self.sequence:08d}',
                secret_no=secret_no, expires_at=expires_at.replace(
                    microsecond=0),
                kind=kind, extension=extension, out_id=out_id)
            self.bindings[binding.binding_id] = (binding, a, b)
            return binding

    def bind_axn(self, a, expires_at, out_id):
        return self._bind('axn', a, None, expires_at, out_id)

    def bind_axb(self, a, b, expires_at, out_id):
        return self._bind('axb', a, b, expires_at, out_id)

    def unbind(self, binding_id):
        with self.lock:
            self.calls.append(('unbind', binding_id))
            self._sweep()
            if self.bindings.pop(binding_id, None) is None:
                raise PrivacyError('unknown_binding',
                    "There is no such binding.")

    # for the tests
    def active(self):
        "Return the active PrivacyBinding objects."
        with self.lock:
            self._sweep()
            return [b for b, _, _ in self.bindings.values()]

    def route(self, secret_no, caller, extension=None):
        "Return the number A a call from caller to X would reach, or None."
        with self.lock:
            self._sweep()
            for binding, a, b in self.bindings.values():
                if binding.secret_no != secret_no:
                    continue
                if binding.extension and binding.extension != extension:
                    continue
                if b is not None and b != caller:
                    continue
                return a
            return None

    # HTTP
    def start(self, port=0):
        simulator = self

        class Handler(JsonHandler):
            def _handle(self, method):
                body = self._body()
                if not verify_request(simulator.secret, method, self.path,
                        self.headers, body):
                    return self._answer(401, {'code': 'bad_signature',
                            'message': 'bad signature'})
                parts = self.path.strip('/').split('/')
                try:
                    if method == 'POST' and parts in (
                            ['bindings', 'axn'], ['bindings', 'axb']):
                        data = json.loads(body or b'{}')
                        expires_at = parse_time(data.get('expires_at'))
                        if parts[1] == 'axn':
                            binding = simulator.bind_axn(data.get('a'),
                                expires_at, data.get('out_id'))
                        else:
                            binding = simulator.bind_axb(data.get('a'),
                                data.get('b'), expires_at, data.get('out_id'))
                        return self._answer(201, binding.to_dict())
                    if method == 'DELETE' and len(parts) == 2 \
                            and parts[0] == 'bindings':
                        simulator.unbind(parts[1])
                        return self._answer(200, {'binding_id': parts[1]})
                except PrivacyError as error:
                    return self._answer(error.status,
                        {'code': error.code, 'message': error.message})
                except (ValueError, TypeError):
                    return self._answer(400, {'code': 'bad_expiry',
                            'message': 'bad request'})
                self._answer(404, {'code': 'unknown_binding',
                        'message': 'no such path'})

            def do_POST(self):
                self._handle('POST')

            def do_DELETE(self):
                self._handle('DELETE')

        return self.serve(Handler, port)

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The interface to a fapiao provider (Nuonuo, Baiwang, Piaozone …) and its
HTTP client.

A request is a plain dict (see ``issue``); our ``request_no`` is unique per
enterprise and is the idempotency key: sending it twice returns the first
fapiao, never a second one.  Issuing is asynchronous: ``issue`` answers
``issuing``; the result (``issued`` with number, date and files, or
``failed`` with the cause) comes by callback to ``callback_url`` and/or by
``query``.  A 数电票 is cancelled by a red-letter fapiao: the provider
first records a 红字确认单 then issues the red fapiao.
"""
import time
from dataclasses import dataclass, field

from dualrec.errors import CodedError

__all__ = [
    'ISSUING', 'ISSUED', 'FAILED', 'VOIDED', 'STATES', 'FINAL_STATES',
    'FapiaoStatus', 'ProviderError', 'FapiaoProvider', 'HttpFapiaoProvider']

ISSUING, ISSUED, FAILED, VOIDED = 'issuing', 'issued', 'failed', 'voided'
STATES = (ISSUING, ISSUED, FAILED, VOIDED)
FINAL_STATES = frozenset({ISSUED, FAILED, VOIDED})


class ProviderError(CodedError):
    "The provider could not be reached or refused the call."
    status = 502


@dataclass
class FapiaoStatus:
    """What the provider knows of one request.

    ``files`` maps 'pdf', 'ofd', 'xml' to base64 text; ``code`` is the
    10 or 12 digit code of a legacy (paper) fapiao; ``date`` is the ISO
    issue date; ``confirmation`` is the 红字确认单 id of a red fapiao and
    ``blue_number`` the number it cancels."""
    request_no: str
    state: str
    number: str = None
    code: str = None
    date: str = None
    files: dict = field(default_factory=dict)
    cause: str = None
    red: bool = False
    blue_number: str = None
    confirmation: str = None

    @property
    def final(self):
        return self.state in FINAL_STATES

    @classmethod
    def from_dict(cls, data):
        state = data.get('state')
        if state not in STATES:
            raise ProviderError(
                'fapiao_provider_state',
                f'The provider answered an unknown state "{state}".',
                {'state': state})
        return cls(
            request_no=data['request_no'], state=state,
            number=data.get('number'), code=data.get('code'),
            date=data.get('date'),
            files=dict(data.get('files') or {}), cause=data.get('cause'),
            red=bool(data.get('red')), blue_number=data.get('blue_number'),
            confirmation=data.get('confirmation'))

    def to_dict(self):
        return {
            'request_no': self.request_no, 'state': self.state,
            'number': self.number, 'code': self.code, 'date': self.date,
            'files': self.files,
            'cause': self.cause, 'red': self.red,
            'blue_number': self.blue_number,
            'confirmation': self.confirmation}


class FapiaoProvider:
    "The calls every provider implements."

    def issue(self, request):
        """Send the blue fapiao ``request`` and return its FapiaoStatus.

        ``request`` has request_no, kind, buyer_name, buyer_tax_id, remark,
        total (str), lines (name, tax_code, quantity, unit_price, tax_rate,
        amount as str) and optionally callback_url."""
        raise NotImplementedError

    def query(self, request_no):
        "Return the FapiaoStatus of ``request_no``."
        raise NotImplementedError

    def void(self, request_no, reason=None):
        "Void the fapiao of ``request_no`` (paper kinds, same month)."
        raise NotImplementedError

    def red_letter(self, blue_number, request_no, reason=None,
            callback_url=None):
        """Record a 红字确认单 for ``blue_number`` then request the red
        fapiao under our new ``request_no``; return its FapiaoStatus."""
        raise NotImplementedError

    def wait(self, request_no, timeout=10, interval=0.2, sleep=time.sleep,
            clock=time.monotonic):
        """Poll ``request_no`` until its state is final or ``timeout``
        seconds passed; return the last FapiaoStatus."""
        deadline = clock() + timeout
        while True:
            status = self.query(request_no)
            if status.final or clock() >= deadline:
                return status
            sleep(interval)


class HttpFapiaoProvider(FapiaoProvider):
    """JSON over HTTP: POST /invoices, GET /invoices/<no>,
    POST /invoices/<no>/void, POST /red-letters.

    The request number is also sent as the ``Idempotency-Key`` header."""

    def __init__(self, base_url, token=None, timeout=10, session=None):
        import requests
        self.base_url = base_url.rstrip('/')
        self.timeout = timeout
        self.session = session or requests.Session()
        if token:
            self.session.headers['Authorization'] = f'Bearer {token}'

    def _call(self, method, path, payload=None, key=None):
        import requests
        headers = {'Idempotency-Key': key} if key else {}
        try:
            response = self.session.request(
                method, self.base_url + path, json=payload, headers=headers,
                timeout=self.timeout)
        except requests.RequestException as exception:
            raise ProviderError(
                'fapiao_provider_unreachable',
                f'The fapiao provider is unreachable: {exception}.',
                {'error': str(exception)})
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            raise ProviderError(
                'fapiao_provider_refused',
                'The fapiao provider refused the call: '
                f'{data.get("error") or response.status_code}.',
                {'status': response.status_code,
                    'error': data.get('error')})
        return FapiaoStatus.from_dict(data)

    def issue(self, request):
        return self._call(
            'POST', '/invoices', request, key=request['request_no'])

    def query(self, request_no):
        return self._call('GET', f'/invoices/{request_no}')

    def void(self, request_no, reason=None):
        return self._call(
            'POST', f'/invoices/{request_no}/void', {'reason': reason})

    def red_letter(self, blue_number, request_no, reason=None,
            callback_url=None):
        return self._call('POST', '/red-letters', {
                'blue_number': blue_number, 'request_no': request_no,
                'reason': reason, 'callback_url': callback_url},
            key=request_no)

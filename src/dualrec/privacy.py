# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The interface to a privacy-number provider (隐私号: the AXN/AXB services
of Chinese carriers and clouds) and its HTTP client.

A move-car plate's scan page never shows the owner's number A: it binds A
to a virtual number X of the provider's pool for a while, and shows X.

* AXN: anyone dialling X (and the extension, when the provider shares X
  between owners) is put through to A until the binding expires;
* AXB: only B (the caller who scanned the plate) dialling X reaches A.

``bind_axn``/``bind_axb`` return a PrivacyBinding (the provider's binding
id, X, the optional extension and the expiry, naive UTC); ``unbind``
releases it early.  ``out_id`` is our business id (the plate's serial): the
provider sends it back in each call record so a call ties to its plate.

Every refusal raises PrivacyError whose ``code`` is one of CODES.  The HTTP
client signs each request with HMAC-SHA256 (``sign_request``) and never
waits longer than its timeout.
"""
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from .errors import CodedError

__all__ = [
    'CODES', 'KINDS', 'PrivacyBinding', 'PrivacyError', 'PrivacyProvider',
    'HttpPrivacyProvider', 'sign_request', 'verify_request',
    'check_number', 'format_time', 'parse_time']

KINDS = ('axn', 'axb')
# code → HTTP status a web layer answers with
CODES = {
    'no_number_available': 503,
    'bad_number': 400,
    'bad_expiry': 400,
    'unknown_binding': 404,
    'provider_refused': 502,
    'provider_unreachable': 502,
    'bad_signature': 401,
    }
# a request older or newer than that is refused by the signature check
MAX_SKEW = 300  # seconds


class PrivacyError(CodedError):
    "The provider refused the call or could not be reached."
    status = 502

    def __init__(self, code, message=None, params=None, status=None):
        super().__init__(code, message, params,
            status=status if status is not None else CODES.get(code, 502))


def check_number(number, field='a'):
    """Return the mainland number (11 digits starting with 1) of
    ``number`` without spaces, dashes or the +86 prefix, or raise
    PrivacyError('bad_number')."""
    text = str(number or '').replace(' ', '').replace('-', '')
    if text.startswith('+86'):
        text = text[3:]
    if not (len(text) == 11 and text.isascii() and text.isdigit()
            and text[0] == '1'):
        raise PrivacyError('bad_number',
            f"The number {field} is not a mainland mobile number.",
            {'field': field})
    return text


def format_time(value):
    "Return the naive UTC datetime value as '2026-12-04T03:10:00Z'."
    return value.replace(microsecond=0).isoformat() + 'Z'


def parse_time(text):
    "Return the naive UTC datetime of an ISO text (with Z or an offset)."
    value = dt.datetime.fromisoformat(str(text).replace('Z', '+00:00'))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


@dataclass
class PrivacyBinding:
    """A binding of the provider: X (``secret_no``) put through to A until
    ``expires_at`` (naive UTC); ``extension`` is the digits to key in after
    X when X is shared, else None."""
    binding_id: str
    secret_no: str
    expires_at: dt.datetime
    kind: str = 'axn'
    extension: str = None
    out_id: str = None

    @classmethod
    def from_dict(cls, data):
        try:
            return cls(binding_id=str(data['binding_id']),
                secret_no=str(data['secret_no']),
                expires_at=parse_time(data['expires_at']),
                kind=data.get('kind') or 'axn',
                extension=data.get('extension') or None,
                out_id=data.get('out_id'))
        except (KeyError, TypeError, ValueError):
            raise PrivacyError('provider_refused',
                "The privacy-number provider gave an unreadable binding.",
                {'error': 'bad answer'}) from None

    def to_dict(self):
        return {'binding_id': self.binding_id, 'secret_no': self.secret_no,
            'expires_at': format_time(self.expires_at), 'kind': self.kind,
            'extension': self.extension, 'out_id': self.out_id}


class PrivacyProvider:
    "The calls every privacy-number provider implements."

    def bind_axn(self, a, expires_at, out_id):
        "Bind A to a virtual number for anyone until expires_at."
        raise NotImplementedError

    def bind_axb(self, a, b, expires_at, out_id):
        "Bind A to a virtual number for B only until expires_at."
        raise NotImplementedError

    def unbind(self, binding_id):
        """Release the binding; an unknown or expired one raises
        PrivacyError('unknown_binding')."""
        raise NotImplementedError


def sign_request(secret, method, path, timestamp, nonce, body):
    """Return the hex HMAC-SHA256 with ``secret`` (bytes) of the request:
    method, path, timestamp (int seconds), nonce and the SHA-256 of the
    body bytes, one per line."""
    if isinstance(secret, str):
        secret = secret.encode('utf-8')
    digest = hashlib.sha256(body or b'').hexdigest()
    message = '\n'.join([method.upper(), path, str(int(timestamp)), nonce,
            digest]).encode('utf-8')
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify_request(secret, method, path, headers, body, now=None):
    """Tell whether the X-Timestamp/X-Nonce/X-Signature headers (a
    mapping) sign the request with ``secret`` within MAX_SKEW seconds."""
    try:
        timestamp = int(headers.get('X-Timestamp') or '')
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > MAX_SKEW:
        return False
    nonce = headers.get('X-Nonce') or ''
    expected = sign_request(secret, method, path, timestamp, nonce, body)
    return hmac.compare_digest(expected, headers.get('X-Signature') or '')


class HttpPrivacyProvider(PrivacyProvider):
    """JSON over HTTP: POST /bindings/axn, POST /bindings/axb,
    DELETE /bindings/<id>; each request carries X-App-Key, X-Timestamp,
    X-Nonce and X-Signature (``sign_request``).  An error answer is
    {"code": one of CODES, "message": …}."""

    def __init__(self, base_url, app_key, secret, timeout=5, session=None,
            clock=time.time):
        import requests
        if not base_url or not secret:
            raise PrivacyError('provider_unreachable',
                "The privacy-number provider is not configured.",
                {'error': 'not configured'})
        self.base_url = base_url.rstrip('/')
        self.app_key = app_key or ''
        self.secret = secret
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock = clock

    def _call(self, method, path, payload=None):
        import requests
        from urllib.parse import urlsplit
        body = json.dumps(payload).encode('utf-8') if payload is not None \
            else b''
        timestamp = int(self.clock())
        nonce = secrets.token_hex(8)
        full_path = urlsplit(self.base_url).path + path
        headers = {
            'Content-Type': 'application/json',
            'X-App-Key': self.app_key,
            'X-Timestamp': str(timestamp),
            'X-Nonce': nonce,
            'X-Signature': sign_request(self.secret, method, full_path,
                timestamp, nonce, body),
            }
        try:
            response = self.session.request(method, self.base_url + path,
                data=body or None, headers=headers, timeout=self.timeout)
        except requests.RequestException as exception:
            raise PrivacyError('provider_unreachable',
                "The privacy-number provider is unreachable.",
                {'error': type(exception).__name__}) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code >= 400:
            code = data.get('code')
            if code not in CODES:
                code = 'provider_refused'
            raise PrivacyError(code,
                str(data.get('message') or
                    f'The provider answered {response.status_code}.'),
                {'status': response.status_code})
        return data

    def _bind(self, kind, payload, expires_at):
        if not isinstance(expires_at, dt.datetime):
            raise PrivacyError('bad_expiry', "The expiry is a date-time.")
        payload['expires_at'] = format_time(expires_at)
        return PrivacyBinding.from_dict(
            self._call('POST', f'/bindings/{kind}', payload))

    def bind_axn(self, a, expires_at, out_id):
        return self._bind('axn', {'a': check_number(a), 'out_id': out_id},
            expires_at)

    def bind_axb(self, a, b, expires_at, out_id):
        return self._bind('axb', {'a': check_number(a),
                'b': check_number(b, 'b'), 'out_id': out_id}, expires_at)

    def unbind(self, binding_id):
        self._call('DELETE', f'/bindings/{binding_id}')

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What the public scan page of a move-car plate needs besides the plate:
the key of its forms, the hash of a client's address, the owner's SMS
binding codes, the preset move-car messages and the rate limits.

No database, no trytond.  The form token binds a POST to the plate's
payload and to a time, so another site cannot post the page's forms (CSRF)
and a token does not live for ever.  The SMS codes are kept as HMACs:
whoever reads the database cannot bind a plate with them.
"""
import hashlib
import hmac
import secrets

from .crypto.keys import derive_key
from .errors import CodedError
from .plate import RateLimiter

__all__ = ['ScanError', 'derive_scan_key', 'client_hash', 'form_token',
    'check_form_token', 'new_code', 'code_hash', 'token_hash',
    'mask_vehicle', 'PRESETS', 'CODE_MINUTES', 'CODE_ATTEMPTS', 'LIMITS',
    'Limits']

SCAN_KEY_INFO = b'dualrec move-car plate scan page v1'
FORM_TOKEN_TTL = 2 * 3600   # seconds a page's forms may be posted
CODE_MINUTES = 5            # an SMS binding code is valid so long
CODE_ATTEMPTS = 5           # wrong codes allowed before it is dead
CODE_DIGITS = 6

# the messages a passer-by may send to the owner: no free text, so the
# page cannot carry abuse or advertising
PRESETS = {
    'block': '您的车辆挡住了其他车辆的通行，请尽快挪车',
    'fire': '您的车辆停在消防通道或禁停区域，请尽快挪车',
    'light': '您的车辆车灯未关或车窗未关，请尽快查看',
    'scratch': '您的车辆可能被剐蹭，请尽快查看',
    }

# kind → (hits per plate, hits per client address) in WINDOW seconds
WINDOW = 600
LIMITS = {
    'view': (120, 60),
    'call': (10, 6),
    'message': (3, 5),
    'bind_request': (5, 8),
    'bind': (10, 10),
    }


class ScanError(CodedError):
    "A form of the scan page refused."


def derive_scan_key(master):
    """Return the 32-byte key of the scan page (form tokens, client
    hashes, SMS codes), derived by HKDF from the PII master key."""
    return derive_key(master, SCAN_KEY_INFO, ScanError)


def _mac(key, *parts):
    message = '\x1f'.join(str(p) for p in parts).encode('utf-8')
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def client_hash(key, address):
    """Return 16 hex characters standing for the client's address: the
    log and the rate limits never keep the address itself."""
    return _mac(key, 'client', address or '-')[:16]


def form_token(key, serial, now):
    "Return the token of the forms of serial's page at now (seconds)."
    now = int(now)
    return f'{now}.{_mac(key, "form", serial, now)[:24]}'


def check_form_token(key, serial, token, now, ttl=FORM_TOKEN_TTL):
    "Tell whether token was made for serial's page less than ttl ago."
    if not isinstance(token, str) or token.count('.') != 1:
        return False
    stamp, _ = token.split('.')
    if not stamp.isascii() or not stamp.isdigit():
        return False
    if not 0 <= now - int(stamp) <= ttl:
        return False
    return hmac.compare_digest(form_token(key, serial, int(stamp)), token)


def new_code():
    "Return (token, code): the handle of a code request and its 6 digits."
    return (secrets.token_urlsafe(18),
        f'{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}')


def token_hash(token):
    "Return the SHA-256 of a code request's handle, as it is stored."
    return hashlib.sha256(str(token).encode('utf-8')).hexdigest()


def code_hash(key, token, code):
    "Return the HMAC of the code of the request token, as it is stored."
    return _mac(key, 'code', token_hash(token), str(code).strip())


def mask_vehicle(number):
    "Return the vehicle plate with its middle hidden: 粤A12345 → 粤A***45."
    if not number:
        return ''
    if len(number) <= 4:
        return number[:1] + '*' * (len(number) - 1)
    return number[:2] + '*' * (len(number) - 4) + number[-2:]


class Limits:
    """The rate limiters of the page, per kind of action: one per plate and
    one per client address.  In process: each server process counts its
    own hits (behind several processes, the limits are per process)."""

    def __init__(self, limits=LIMITS, window=WINDOW, clock=None):
        options = {'clock': clock} if clock else {}
        self.limiters = {kind: (RateLimiter(per_plate, window, **options),
                RateLimiter(per_client, window, **options))
            for kind, (per_plate, per_client) in limits.items()}

    def hit(self, kind, serial, client):
        """Record a hit of kind on the plate from client; return 0 if
        allowed, else the seconds to wait (nothing is recorded then)."""
        per_plate, per_client = self.limiters[kind]
        wait = per_client.hit(client)
        if wait:
            return wait
        return per_plate.hit(serial)

# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Coupons of the value-added services, redeemed at the merchants.

This module needs no database and imports nothing from Tryton so it can be
tested alone and reused by scripts.  Every refusal raises CouponError whose
``code`` is a short stable string; the Tryton layer maps the code to a
translated message.  The English ``message`` is only a fallback for logs and
never contains a whole coupon code (``params`` carries the masked form)
because a code is as good as the coupon and error messages end up in logs.

Section A makes and checks the codes: 16 random symbols (80 bits) of a
32-symbol alphabet without the look-alikes 0, 1, I and O, then one Luhn
mod N check symbol.  Section B signs the short-lived tokens that the
owner's mini-program shows as a QR code.  Section C computes the validity
window of a coupon in the company's calendar days and section D the window
in which a redemption may still be returned.
"""
import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets

from .crypto.keys import check_key, derive_key
from .errors import CodedError

__all__ = [
    'ALPHABET', 'CODE_LENGTH', 'CouponError', 'check_code', 'check_symbol',
    'derive_token_key', 'format_code', 'generate_code', 'issue_token',
    'mask_code', 'normalize_code', 'read_payload', 'returnable', 'sign_token',
    'usable_on', 'validity']


class CouponError(CodedError):
    """A coupon code, token, key or validity was refused.

    ``code`` is a short stable identifier (e.g. 'bad_check') meant to
    select a translated message; ``params`` holds the values to format it
    with.  ``message`` is an untranslated English fallback.
    """


# ---------------------------------------------------------------------------
# A. Codes
# ---------------------------------------------------------------------------

# 32 symbols: the digits and capital letters without 0, 1, I and O, which
# are read and typed for one another.
ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'
_VALUES = {symbol: value for value, symbol in enumerate(ALPHABET)}
BODY_LENGTH = 16  # random symbols
CODE_LENGTH = BODY_LENGTH + 1  # and the check symbol
RANDOM_BYTES = 10  # 80 bits = 16 symbols of 5 bits
GROUP_SIZE = 4  # symbols per group of the printed form

# Full-width ASCII variants (U+FF01..U+FF5E) sit at a fixed offset from
# their ASCII counterparts; U+3000 is the ideographic space (as in pii).
_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_HALF_WIDTH[0x3000] = 0x20
# Only ASCII letters are upper-cased: str.upper() would turn some other
# letters into ASCII ones (the long s 'ſ' into 'S') the user did not type.
_UPPER = str.maketrans(
    'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')


def _luhn_sum(symbols, double_first):
    "Return the Luhn mod N sum of symbols, doubling from the rightmost one."
    n = len(ALPHABET)
    total, double = 0, double_first
    for symbol in reversed(symbols):
        value = _VALUES[symbol]
        if double:
            value *= 2
            value = value // n + value % n
        total += value
        double = not double
    return total % n


def check_symbol(body):
    """Return the Luhn mod N (N = 32) check symbol of ``body``.

    ``body`` is a non-empty str of ALPHABET symbols (the 16 random symbols
    of a code); any other symbol raises CouponError('bad_code').  With the
    check symbol appended, every single-symbol substitution is detected,
    and so is every transposition of two adjacent different symbols except
    '2' with 'Z' (values 0 and 31): like 0 and 9 for the decimal Luhn
    algorithm, both are unchanged by the doubling step.
    """
    if (not isinstance(body, str) or not body
            or any(symbol not in _VALUES for symbol in body)):
        raise _bad_code(body if isinstance(body, str) else '')
    n = len(ALPHABET)
    return ALPHABET[(n - _luhn_sum(body, True)) % n]


def generate_code(randbytes=secrets.token_bytes):
    """Return a new 17-symbol code: 16 random symbols and the check symbol.

    The 16 symbols carry exactly 80 bits: ``randbytes(10)`` (by default
    secrets.token_bytes) read as a big-endian number, 5 bits per symbol,
    most significant first.  Codes are not unique by construction: the
    caller stores them with a unique constraint and draws again on the
    (2^-80 per pair) collision.
    """
    data = randbytes(RANDOM_BYTES)
    if not isinstance(data, bytes) or len(data) != RANDOM_BYTES:
        raise ValueError(f'randbytes must return {RANDOM_BYTES} bytes')
    number = int.from_bytes(data, 'big')
    body = ''.join(
        ALPHABET[number >> (5 * shift) & 0x1f]
        for shift in range(BODY_LENGTH - 1, -1, -1))
    return body + check_symbol(body)


def normalize_code(text):
    """Return ``text`` as a code would be stored, without validating it.

    Full-width letters, digits, hyphens and spaces become ASCII, every
    whitespace character and hyphen is removed and ASCII letters are
    upper-cased, so 'ａｂｃｄ－ｅｆｇｈ' and 'ABCD-EFGH' are the same.  The
    look-alikes 0, 1, I and O are kept as they are: they are not in the
    alphabet, so check_code refuses them instead of guessing what was
    meant.  None gives ''.
    """
    if text is None:
        return ''
    if not isinstance(text, str):
        raise TypeError(f'code must be a str, not {type(text).__name__}')
    text = text.translate(_HALF_WIDTH).translate(_UPPER)
    return ''.join(text.split()).replace('-', '')


def mask_code(code):
    """Return ``code`` with all but its first 4 and last 2 symbols starred.

    'ABCDEFGHJKLMNPQRS' -> 'ABCD***********RS'.  Values of 6 characters or
    fewer are fully starred since keeping 4 + 2 would show everything.
    Empty or None gives ''.
    """
    if not code:
        return ''
    if len(code) <= 6:
        return '*' * len(code)
    return code[:4] + '*' * (len(code) - 6) + code[-2:]


def _bad_code(code):
    return CouponError('bad_code',
        f"The coupon code must be {CODE_LENGTH} symbols among "
        f"{ALPHABET}.", {'code': mask_code(code)})


def check_code(text):
    """Return the normalized 17-symbol code of ``text`` or raise CouponError.

    - 'bad_code': not 17 symbols once normalized, or a symbol outside
      ALPHABET (0, 1, I and O included);
    - 'bad_check': the check symbol is wrong (a mistyped code).

    ``params['code']`` is the masked normalized text.
    """
    code = normalize_code(text)
    if (len(code) != CODE_LENGTH
            or any(symbol not in _VALUES for symbol in code)):
        raise _bad_code(code)
    if _luhn_sum(code, False):
        raise CouponError('bad_check',
            "The coupon code is mistyped: its check symbol is wrong.",
            {'code': mask_code(code)})
    return code


def format_code(code):
    """Return ``code`` in groups of 4 symbols joined by '-', as printed.

    'ABCDEFGHJKLMNPQRS' -> 'ABCD-EFGH-JKLM-NPQR-S'.  The code is checked
    first (check_code), so any spelling check_code accepts is accepted and
    an invalid code raises its CouponError.
    """
    code = check_code(code)
    return '-'.join(
        code[i:i + GROUP_SIZE] for i in range(0, len(code), GROUP_SIZE))


# ---------------------------------------------------------------------------
# B. QR tokens
# ---------------------------------------------------------------------------

TOKEN_PREFIX = 'DRC1'
TOKEN_KEY_INFO = b'dualrec coupon token v1'
SIGNATURE_SIZE = 16  # bytes of the HMAC-SHA256 kept, 22 base64 characters
DEFAULT_TTL = 300  # seconds

_EXPIRES_RE = re.compile(r'0|[1-9][0-9]{0,15}', re.ASCII)


def _check_key(key):
    check_key(key, CouponError)


def _check_expires_at(expires_at):
    if isinstance(expires_at, bool) or not isinstance(expires_at, int):
        raise TypeError(
            f'expires_at must be an int, not {type(expires_at).__name__}')
    if not _EXPIRES_RE.fullmatch(str(expires_at)):
        raise ValueError(f'expires_at out of range: {expires_at}')


def _signature(key, code, expires):
    "Return the signature text of the code and the expiry text."
    message = f'{TOKEN_PREFIX}.{code}.{expires}'.encode('ascii')
    digest = hmac.new(bytes(key), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(
        digest[:SIGNATURE_SIZE]).rstrip(b'=').decode('ascii')


def derive_token_key(master):
    """Return the 32-byte token signing key derived from ``master``.

    HKDF-SHA256 without salt and with the info b'dualrec coupon token v1',
    so the suite's PII master key (the bytes of load_master_key, which the
    caller passes) yields a key independent of the PII keys, and the same
    master always gives the same key.  A master shorter than 32 bytes
    raises CouponError('key_too_short').
    """
    return derive_key(master, TOKEN_KEY_INFO, CouponError)


def sign_token(key, code, expires_at):
    """Return the token 'DRC1.<code>.<expires_at>.<sig>' for the QR code.

    ``code`` is checked and normalized first (check_code); ``expires_at``
    is an int of Unix seconds (0 to 16 digits).  ``sig`` is the unpadded
    urlsafe base64 of the first 16 bytes of
    HMAC-SHA256(key, b'DRC1.' + code + b'.' + str(expires_at)).  ``key``
    is at least 32 bytes (derive_token_key).
    """
    _check_key(key)
    code = check_code(code)
    _check_expires_at(expires_at)
    return (f'{TOKEN_PREFIX}.{code}.{expires_at}.'
        f'{_signature(key, code, expires_at)}')


def issue_token(key, code, now, ttl=DEFAULT_TTL):
    """Return sign_token(key, code, int(now) + ttl).

    ``now`` is the Unix time in seconds (e.g. time.time()) and ``ttl`` the
    positive lifetime in seconds, 5 minutes by default.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError(f'ttl must be a positive int, not {ttl!r}')
    return sign_token(key, code, int(now) + ttl)


def _iso_utc(timestamp):
    try:
        moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def read_payload(key, text, now):
    """Return (code, expires_at) read from a scanned or typed ``text``.

    A bare code, as typed by the merchant's staff in any spelling
    check_code accepts, gives (code, None): it is not signed, so the
    caller decides whether it may be redeemed without the owner's QR code.
    A token made by sign_token gives (code, expires_at).  Surrounding
    whitespace is ignored; any text containing a '.' is read as a token.

    - 'bad_signature': a malformed token, or a signature that does not
      match (another key, an altered code or expiry); nothing is read
      from the token before its signature is verified;
    - 'token_expired': ``now`` (Unix seconds, a float) is after
      expires_at; the token is still valid at now == expires_at.
      ``params['expired_at']`` is expires_at in ISO 8601 UTC;
    - 'bad_code', 'bad_check': as check_code, for a bare code (or for the
      code of a token signed with a bad code, which sign_token refuses).
    """
    _check_key(key)
    if not isinstance(text, str):
        raise TypeError(f'text must be a str, not {type(text).__name__}')
    text = text.strip()
    if '.' not in text:
        return check_code(text), None
    bad = CouponError('bad_signature',
        "The coupon QR code is not valid: refresh it in the mini-program.")
    if not text.isascii():
        raise bad
    parts = text.split('.')
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX:
        raise bad
    _, code, expires, signature = parts
    if not _EXPIRES_RE.fullmatch(expires):
        raise bad
    if not hmac.compare_digest(
            _signature(key, code, expires), signature):
        raise bad
    code = check_code(code)
    expires_at = int(expires)
    if now > expires_at:
        raise CouponError('token_expired',
            "The coupon QR code has expired: refresh it in the "
            "mini-program.", {'expired_at': _iso_utc(expires_at)})
    return code, expires_at


# ---------------------------------------------------------------------------
# C. Validity
# ---------------------------------------------------------------------------

VALIDITY_KINDS = ('fixed', 'days')


def _check_day(name, day):
    # datetime is a subclass of date: refuse it explicitly, the validity
    # is in the company's calendar days.
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise TypeError(f'{name} must be a date, not {type(day).__name__}')


def validity(issue_day, kind, start=None, end=None, days=None):
    """Return (first_day, last_day) of a coupon, both inclusive.

    Days are the company's calendar dates (datetime.date, not datetime).

    - kind 'fixed': (start, end); both are required and start <= end;
    - kind 'days': ``days`` >= 1 days from ``issue_day`` included, i.e.
      (issue_day, issue_day + days - 1).  A ``start`` or ``end`` given too
      (a batch restricting its window) clips it: first_day is
      max(issue_day, start) and last_day min(issue_day + days - 1, end).

    Any other kind, a missing or wrong value, or a clipped window without
    any day raises CouponError('bad_validity').
    """
    params = {'kind': kind, 'issue_day': issue_day, 'start': start,
        'end': end, 'days': days}
    if kind == 'fixed':
        if start is None or end is None:
            raise CouponError('bad_validity',
                "A coupon with fixed validity needs a start and an end "
                "day.", params)
        _check_day('start', start)
        _check_day('end', end)
        if start > end:
            raise CouponError('bad_validity',
                "The validity of the coupon ends before it starts.", params)
        return start, end
    if kind == 'days':
        _check_day('issue_day', issue_day)
        if (isinstance(days, bool) or not isinstance(days, int)
                or days < 1):
            raise CouponError('bad_validity',
                "A coupon valid for a number of days needs at least one "
                "day.", params)
        first_day = issue_day
        last_day = issue_day + dt.timedelta(days=days - 1)
        if start is not None:
            _check_day('start', start)
            first_day = max(first_day, start)
        if end is not None:
            _check_day('end', end)
            last_day = min(last_day, end)
        if first_day > last_day:
            raise CouponError('bad_validity',
                "The validity of the coupon has no day within the window "
                "of its batch.", params)
        return first_day, last_day
    raise CouponError('bad_validity',
        f"Unknown coupon validity kind {kind!r}.", params)


def usable_on(day, first_day, last_day):
    """Return None if the coupon is usable on ``day``, else why not.

    'not_started' before first_day, 'expired' after last_day; both days
    are inclusive.
    """
    _check_day('day', day)
    if day < first_day:
        return 'not_started'
    if day > last_day:
        return 'expired'
    return None


# ---------------------------------------------------------------------------
# D. Returns
# ---------------------------------------------------------------------------

def returnable(redeemed_day, today, window_days):
    """Return whether a redemption of ``redeemed_day`` may be returned.

    True when window_days >= 0 and today is at most window_days after
    redeemed_day: 0 allows the same day only, 1 the next day too; a
    negative window allows no return at all.  A ``today`` before
    redeemed_day (clock or time zone skew) is within the window.
    """
    _check_day('redeemed_day', redeemed_day)
    _check_day('today', today)
    return window_days >= 0 and (today - redeemed_day).days <= window_days
